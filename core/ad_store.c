/* ad_store.c - the store: nodes, profiles, jobs, runs, metrics and sweeps in one SQLite file */
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

#include "autodist/ad_fault.h"
#include "autodist/ad_home.h"
#include "autodist/ad_log.h"

/* ---------------------------------------------------------------------------------------- */
/* Schema.  A migration is never edited once released: change the schema with a new one.  */

/* Version 1: the tables of DESIGN.md section 6. */
static const char s_schema_v1[] =
    "CREATE TABLE nodes ("
    " id INTEGER PRIMARY KEY,"
    " hostname TEXT NOT NULL UNIQUE,"
    " address TEXT,"
    " state TEXT NOT NULL,"
    " first_seen REAL NOT NULL,"
    " last_seen REAL NOT NULL);"
    "CREATE TABLE profiles ("
    " id INTEGER PRIMARY KEY,"
    " node INTEGER REFERENCES nodes(id) ON DELETE CASCADE,"
    " hardware TEXT NOT NULL,"
    " measured REAL NOT NULL,"
    " cpu_model TEXT,"
    " sockets INTEGER, cores INTEGER, pus INTEGER, gpus INTEGER, memory_bytes INTEGER,"
    " gemm_gflops_1 REAL, gemm_gflops_all REAL, mem_bw_gbs REAL,"
    " topology TEXT);"
    "CREATE INDEX profiles_node ON profiles (node, id);"
    "CREATE INDEX profiles_hardware ON profiles (hardware, id);"
    "CREATE TABLE sweeps ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " file_hash TEXT NOT NULL,"
    " spec TEXT,"
    " created REAL NOT NULL,"
    " UNIQUE (name, file_hash));"
    "CREATE TABLE jobs ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " spec TEXT,"
    " state TEXT NOT NULL,"
    " reason TEXT,"
    " submitted REAL NOT NULL,"
    " started REAL,"
    " ended REAL,"
    " exit_code INTEGER,"
    " sweep INTEGER REFERENCES sweeps(id) ON DELETE SET NULL,"
    " config_hash TEXT,"
    " nodes INTEGER, procs_per_node INTEGER, threads_per_proc INTEGER,"
    " device TEXT,"
    " nodelist TEXT);"
    "CREATE INDEX jobs_state ON jobs (state, id);"
    "CREATE INDEX jobs_sweep ON jobs (sweep);"
    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY,"
    " job INTEGER REFERENCES jobs(id) ON DELETE SET NULL,"
    " sweep INTEGER REFERENCES sweeps(id) ON DELETE SET NULL,"
    " config_hash TEXT,"
    " model TEXT NOT NULL,"
    " dataset TEXT NOT NULL,"
    " hardware TEXT NOT NULL,"
    " device TEXT NOT NULL,"
    " nodes INTEGER NOT NULL,"
    " procs_per_node INTEGER NOT NULL,"
    " threads_per_proc INTEGER NOT NULL,"
    " batch_size INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " started REAL,"
    " ended REAL,"
    " samples_per_s REAL,"
    " epoch_time_s REAL,"
    " accuracy REAL,"
    " baseline INTEGER REFERENCES runs(id) ON DELETE SET NULL,"
    " speedup REAL);"
    "CREATE INDEX runs_layout ON runs (model, dataset, batch_size, hardware, nodes,"
    " procs_per_node, threads_per_proc, device, state, ended);"
    "CREATE INDEX runs_config ON runs (sweep, config_hash);"
    "CREATE INDEX runs_job ON runs (job);"
    "CREATE TABLE metrics ("
    " run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " step INTEGER NOT NULL,"
    " key TEXT NOT NULL,"
    " value REAL,"
    " PRIMARY KEY (run, key, step)) WITHOUT ROWID;";

/* The SQL below is laid out by hand. */
/* clang-format off */

/* The key of a layout group: what a speedup is the mean over. */
#define S_GROUP_KEY \
    "model, dataset, batch_size, hardware, nodes, procs_per_node, threads_per_proc, device"
#define S_GROUP_OF(row) \
    #row ".model, " #row ".dataset, " #row ".batch_size, " #row ".hardware, " \
    #row ".nodes, " #row ".procs_per_node, " #row ".threads_per_proc, " #row ".device"
#define S_GROUP_IS(row) \
    "model = " #row ".model AND dataset = " #row ".dataset AND batch_size = " #row ".batch_size" \
    " AND hardware = " #row ".hardware AND nodes = " #row ".nodes" \
    " AND procs_per_node = " #row ".procs_per_node" \
    " AND threads_per_proc = " #row ".threads_per_proc AND device = " #row ".device"
/* A completed run with a throughput counts in its group. */
#define S_COUNTS(row) "(" #row ".state = 'COMPLETED' AND " #row ".samples_per_s > 0)"
#define S_GROUP_ADD(row) \
    "INSERT INTO run_groups SELECT " S_GROUP_OF(row) ", 1, " #row ".samples_per_s, " \
    #row ".samples_per_s * " #row ".samples_per_s, " #row ".speedup IS NOT NULL," \
    " coalesce(" #row ".speedup, 0) WHERE " S_COUNTS(row) \
    " ON CONFLICT (" S_GROUP_KEY ") DO UPDATE SET runs = runs + 1," \
    " sum_sps = sum_sps + excluded.sum_sps, sum_sps2 = sum_sps2 + excluded.sum_sps2," \
    " speedups = speedups + excluded.speedups," \
    " sum_speedup = sum_speedup + excluded.sum_speedup;"
#define S_GROUP_SUB(row) \
    "UPDATE run_groups SET runs = runs - 1, sum_sps = sum_sps - " #row ".samples_per_s," \
    " sum_sps2 = sum_sps2 - " #row ".samples_per_s * " #row ".samples_per_s," \
    " speedups = speedups - (" #row ".speedup IS NOT NULL)," \
    " sum_speedup = sum_speedup - coalesce(" #row ".speedup, 0)" \
    " WHERE " S_GROUP_IS(row) " AND " S_COUNTS(row) ";" \
    "DELETE FROM run_groups WHERE " S_GROUP_IS(row) " AND runs <= 0;"

/*
 * Version 2: the optional columns of `autodist import` (DESIGN.md section 7);
 * a partial index of the completed runs still waiting for a baseline, so a
 * baseline that arrives late finds them without walking its whole group; and
 * run_groups, the per-layout sums behind the speedup table, kept exact by
 * triggers (whoever writes runs, the store or a hand with sqlite3), so
 * `autodist speedup` reads one row per layout instead of every run.
 */
static const char s_schema_v2[] =
    "ALTER TABLE runs ADD COLUMN step_time_s REAL;"
    "ALTER TABLE runs ADD COLUMN comm_time_s REAL;"
    "ALTER TABLE runs ADD COLUMN params INTEGER;"
    "DROP INDEX runs_layout;"
    "CREATE INDEX runs_layout ON runs (" S_GROUP_KEY ", state, ended, samples_per_s);"
    "CREATE INDEX runs_unmatched ON runs (model, dataset, batch_size, hardware, device)"
    " WHERE state = 'COMPLETED' AND speedup IS NULL;"
    "CREATE TABLE run_groups ("
    " model TEXT NOT NULL, dataset TEXT NOT NULL, batch_size INTEGER NOT NULL,"
    " hardware TEXT NOT NULL, nodes INTEGER NOT NULL, procs_per_node INTEGER NOT NULL,"
    " threads_per_proc INTEGER NOT NULL, device TEXT NOT NULL,"
    " runs INTEGER NOT NULL,"
    " sum_sps REAL NOT NULL,"
    " sum_sps2 REAL NOT NULL,"
    " speedups INTEGER NOT NULL,"
    " sum_speedup REAL NOT NULL,"
    " PRIMARY KEY (" S_GROUP_KEY ")) WITHOUT ROWID;"
    "INSERT INTO run_groups SELECT " S_GROUP_KEY ", count(*), sum(samples_per_s),"
    " sum(samples_per_s * samples_per_s), count(speedup), total(speedup) FROM runs"
    " WHERE state = 'COMPLETED' AND samples_per_s > 0 GROUP BY " S_GROUP_KEY ";"
    "CREATE TRIGGER runs_group_add AFTER INSERT ON runs WHEN " S_COUNTS(new) " BEGIN "
        S_GROUP_ADD(new)
    " END;"
    "CREATE TRIGGER runs_group_move AFTER UPDATE OF " S_GROUP_KEY ", state, samples_per_s,"
    " speedup ON runs WHEN " S_COUNTS(old) " OR " S_COUNTS(new) " BEGIN "
        S_GROUP_SUB(old)
        S_GROUP_ADD(new)
    " END;"
    "CREATE TRIGGER runs_group_drop AFTER DELETE ON runs WHEN " S_COUNTS(old) " BEGIN "
        S_GROUP_SUB(old)
    " END;";

/* clang-format on */

/* Migration to version v is s_migrations[v]; entry 0 is the empty file. */
static const char *const s_migrations[] = {NULL, s_schema_v1, s_schema_v2};

_Static_assert(sizeof(s_migrations) / sizeof(s_migrations[0]) == AD_STORE_SCHEMA_VERSION + 1,
               "one migration per schema version");

/* ---------------------------------------------------------------------------------------- */
/* Statements, prepared once per handle and reused (a bulk import runs them a million times). */

#define S_RUN_COLS                                                                                 \
    "id, job, sweep, config_hash, model, dataset, hardware, device, nodes, procs_per_node,"        \
    " threads_per_proc, batch_size, state, started, ended, samples_per_s, epoch_time_s,"           \
    " accuracy, step_time_s, comm_time_s, params, baseline, speedup"
#define S_JOB_COLS                                                                                 \
    "id, name, spec, state, reason, submitted, started, ended, exit_code, sweep, config_hash,"     \
    " nodes, procs_per_node, threads_per_proc, device, nodelist"
#define S_NODE_COLS                                                                                \
    "id, hostname, address, state,"                                                                \
    " (SELECT hardware FROM profiles p WHERE p.node = nodes.id ORDER BY p.id DESC LIMIT 1),"       \
    " first_seen, last_seen"
#define S_PROFILE_COLS                                                                             \
    "id, node, hardware, measured, cpu_model, sockets, cores, pus, gpus, memory_bytes,"            \
    " gemm_gflops_1, gemm_gflops_all, mem_bw_gbs, topology"
#define S_SWEEP_COLS "id, name, file_hash, spec, created"

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_ROLLBACK_TO,
    Q_NODE_PUT,
    Q_NODE_STATE,
    Q_NODE_GET,
    Q_NODE_FIND,
    Q_NODE_LIST,
    Q_PROFILE_ADD,
    Q_PROFILE_NODE,
    Q_PROFILE_HW,
    Q_SWEEP_ADD,
    Q_SWEEP_FIND,
    Q_SWEEP_GET,
    Q_JOB_ADD,
    Q_JOB_GET,
    Q_JOB_STATE,
    Q_JOB_SET_STATE,
    Q_JOB_LAYOUT,
    Q_RUN_ADD,
    Q_RUN_GET,
    Q_RUN_FIND,
    Q_RUN_EXISTS,
    Q_RUN_FINISH,
    Q_RUN_BASELINE,
    Q_RUN_SET_SPEEDUP,
    Q_RUN_BACKFILL,
    Q_METRIC_ADD,
    Q_METRIC_ALL,
    Q_METRIC_KEY,
    Q_COUNT
};

static const char *const s_sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT ad_call",
    [Q_RELEASE] = "RELEASE ad_call",
    [Q_ROLLBACK_TO] = "ROLLBACK TO ad_call",
    [Q_NODE_PUT] = "INSERT INTO nodes (hostname, address, state, first_seen, last_seen)"
                   " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hostname) DO UPDATE SET"
                   " address = COALESCE(excluded.address, address), state = excluded.state,"
                   " last_seen = excluded.last_seen RETURNING id",
    [Q_NODE_STATE] = "UPDATE nodes SET state = ?2, last_seen = ?3 WHERE id = ?1",
    [Q_NODE_GET] = "SELECT " S_NODE_COLS " FROM nodes WHERE id = ?1",
    [Q_NODE_FIND] = "SELECT " S_NODE_COLS " FROM nodes WHERE hostname = ?1",
    [Q_NODE_LIST] = "SELECT " S_NODE_COLS " FROM nodes ORDER BY id",
    [Q_PROFILE_ADD] = "INSERT INTO profiles (node, hardware, measured, cpu_model, sockets, cores,"
                      " pus, gpus, memory_bytes, gemm_gflops_1, gemm_gflops_all, mem_bw_gbs,"
                      " topology) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [Q_PROFILE_NODE] =
        "SELECT " S_PROFILE_COLS " FROM profiles WHERE node = ?1 ORDER BY id DESC LIMIT 1",
    [Q_PROFILE_HW] =
        "SELECT " S_PROFILE_COLS " FROM profiles WHERE hardware = ?1 ORDER BY id DESC LIMIT 1",
    [Q_SWEEP_ADD] = "INSERT INTO sweeps (name, file_hash, spec, created) VALUES (?1, ?2, ?3, ?4)"
                    " ON CONFLICT (name, file_hash) DO NOTHING RETURNING id",
    [Q_SWEEP_FIND] = "SELECT id FROM sweeps WHERE name = ?1 AND file_hash = ?2",
    [Q_SWEEP_GET] = "SELECT " S_SWEEP_COLS " FROM sweeps WHERE id = ?1",
    [Q_JOB_ADD] = "INSERT INTO jobs (name, spec, state, reason, submitted, sweep, config_hash,"
                  " nodes, procs_per_node, threads_per_proc, device, nodelist)"
                  " VALUES (?1, ?2, 'PENDING', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_JOB_GET] = "SELECT " S_JOB_COLS " FROM jobs WHERE id = ?1",
    [Q_JOB_STATE] = "SELECT state FROM jobs WHERE id = ?1",
    /* ?5: 0 keeps started, 1 stamps it, 2 clears it; ?7: non-zero stamps ended. */
    [Q_JOB_SET_STATE] = "UPDATE jobs SET state = ?2, reason = ?3,"
                        " exit_code = COALESCE(?4, exit_code),"
                        " started = CASE ?5 WHEN 0 THEN started WHEN 1 THEN ?6 ELSE NULL END,"
                        " ended = CASE ?7 WHEN 0 THEN ended ELSE ?6 END WHERE id = ?1",
    [Q_JOB_LAYOUT] = "UPDATE jobs SET nodes = ?2, procs_per_node = ?3, threads_per_proc = ?4,"
                     " device = ?5, nodelist = COALESCE(?6, nodelist) WHERE id = ?1",
    [Q_RUN_ADD] = "INSERT INTO runs (job, sweep, config_hash, model, dataset, hardware, device,"
                  " nodes, procs_per_node, threads_per_proc, batch_size, state, started, ended,"
                  " samples_per_s, epoch_time_s, accuracy, step_time_s, comm_time_s, params,"
                  " baseline, speedup) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                  " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
    [Q_RUN_GET] = "SELECT " S_RUN_COLS " FROM runs WHERE id = ?1",
    [Q_RUN_FIND] = "SELECT " S_RUN_COLS " FROM runs WHERE sweep IS ?1 AND config_hash = ?2"
                   " ORDER BY id DESC LIMIT 1",
    [Q_RUN_EXISTS] = "SELECT 1 FROM runs WHERE id = ?1",
    [Q_RUN_FINISH] = "UPDATE runs SET state = ?2, ended = ?3,"
                     " samples_per_s = COALESCE(?4, samples_per_s),"
                     " epoch_time_s = COALESCE(?5, epoch_time_s),"
                     " accuracy = COALESCE(?6, accuracy),"
                     " step_time_s = COALESCE(?7, step_time_s),"
                     " comm_time_s = COALESCE(?8, comm_time_s),"
                     " params = COALESCE(?9, params) WHERE id = ?1",
    [Q_RUN_BASELINE] = "SELECT id, samples_per_s FROM runs WHERE model = ?1 AND dataset = ?2"
                       " AND batch_size = ?3 AND hardware = ?4 AND nodes = 1"
                       " AND procs_per_node = 1 AND threads_per_proc = 1 AND device = ?5"
                       " AND state = 'COMPLETED' AND samples_per_s > 0"
                       " ORDER BY ended DESC, id DESC LIMIT 1",
    [Q_RUN_SET_SPEEDUP] = "UPDATE runs SET baseline = ?2, speedup = ?3 WHERE id = ?1",
    /*
     * Left to itself (no ANALYZE statistics) the planner picks runs_layout and
     * walks the whole group; runs_unmatched holds only the runs still waiting.
     */
    [Q_RUN_BACKFILL] =
        "UPDATE runs INDEXED BY runs_unmatched SET baseline = ?1, speedup = samples_per_s / ?2"
        " WHERE model = ?3 AND dataset = ?4 AND batch_size = ?5"
        " AND hardware = ?6 AND device = ?7 AND state = 'COMPLETED'"
        " AND speedup IS NULL AND samples_per_s > 0",
    [Q_METRIC_ADD] = "INSERT OR REPLACE INTO metrics (run, step, key, value)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [Q_METRIC_ALL] = "SELECT step, key, value FROM metrics WHERE run = ?1 ORDER BY step, key",
    [Q_METRIC_KEY] = "SELECT step, key, value FROM metrics WHERE run = ?1 AND key = ?2"
                     " ORDER BY step",
};

struct ad_store {
    sqlite3 *db;                  /* the connection */
    char *path;                   /* the file, as opened */
    bool readonly;                /* opened with AD_STORE_READONLY */
    bool user_tx;                 /* inside ad_store_begin() ... commit/rollback */
    bool injected;                /* the failing step was the fault switch, not SQLite */
    int busy_ms;                  /* lock wait before SQLITE_BUSY */
    sqlite3_stmt *stmts[Q_COUNT]; /* prepared on first use */
    ad_err_t err;                 /* detail of the last failure */
};

/* How one public call holds its transaction. */
typedef enum {
    S_TX_NONE,      /* one write statement, atomic by itself */
    S_TX_OWN,       /* BEGIN IMMEDIATE ... COMMIT of its own */
    S_TX_SAVEPOINT, /* inside the caller's transaction: undoes only itself on failure */
} s_tx_t;

static const char *const s_job_states[AD_JOB_STATE_COUNT] = {
    "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
};

static const char *const s_node_states[] = {"UP", "DOWN", "DRAIN"};

#define S_NODE_STATE_COUNT ((int)(sizeof(s_node_states) / sizeof(s_node_states[0])))

/* ---------------------------------------------------------------------------------------- */
/* States.                                                                                 */

const char *
ad_job_state_name(ad_job_state_t state)
{
    if ((int)state < 0 || (int)state >= AD_JOB_STATE_COUNT)
        return "UNKNOWN";
    return s_job_states[state];
}

int
ad_job_state_from_name(const char *name, ad_job_state_t *state)
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
ad_job_state_is_final(ad_job_state_t state)
{
    return state >= AD_JOB_COMPLETED && state <= AD_JOB_NODE_FAIL;
}

bool
ad_job_state_can_move(ad_job_state_t from, ad_job_state_t to)
{
    switch (from) {
    case AD_JOB_PENDING:
        return to == AD_JOB_RUNNING || to == AD_JOB_CANCELLED || to == AD_JOB_FAILED;
    case AD_JOB_RUNNING:
        return to == AD_JOB_PENDING || ad_job_state_is_final(to);
    default:
        return false;
    }
}

const char *
ad_node_state_name(ad_node_state_t state)
{
    if ((int)state < 0 || (int)state >= S_NODE_STATE_COUNT)
        return "UNKNOWN";
    return s_node_states[state];
}

int
ad_node_state_from_name(const char *name, ad_node_state_t *state)
{
    for (int i = 0; name && i < S_NODE_STATE_COUNT; i++) {
        if (!strcasecmp(name, s_node_states[i])) {
            *state = (ad_node_state_t)i;
            return 0;
        }
    }
    return AD_EINVAL;
}

/* ---------------------------------------------------------------------------------------- */
/* Rows.                                                                                   */

void
ad_run_init(ad_run_t *run)
{
    memset(run, 0, sizeof(*run));
    run->nodes = run->procs_per_node = run->threads_per_proc = 1;
    run->state = AD_JOB_RUNNING;
    run->started = run->ended = NAN;
    run->samples_per_s = run->epoch_time_s = run->accuracy = NAN;
    run->step_time_s = run->comm_time_s = run->speedup = NAN;
}

void
ad_run_result_init(ad_run_result_t *res, ad_job_state_t state)
{
    memset(res, 0, sizeof(*res));
    res->state = state;
    res->ended = res->samples_per_s = res->epoch_time_s = res->accuracy = NAN;
    res->step_time_s = res->comm_time_s = NAN;
}

void
ad_job_row_init(ad_job_row_t *job)
{
    memset(job, 0, sizeof(*job));
    job->submitted = job->started = job->ended = NAN;
    job->exit_code = AD_STORE_NO_EXIT;
}

void
ad_profile_row_init(ad_profile_row_t *profile)
{
    memset(profile, 0, sizeof(*profile));
    profile->measured = NAN;
    profile->gemm_gflops_1 = profile->gemm_gflops_all = profile->mem_bw_gbs = NAN;
}

void
ad_node_init(ad_node_t *node)
{
    memset(node, 0, sizeof(*node));
    node->state = AD_NODE_UP;
    node->first_seen = node->last_seen = NAN;
}

void
ad_run_clear(ad_run_t *run)
{
    if (!run)
        return;
    free(run->config_hash);
    free(run->model);
    free(run->dataset);
    free(run->hardware);
    free(run->device);
    memset(run, 0, sizeof(*run));
}

void
ad_job_row_clear(ad_job_row_t *job)
{
    if (!job)
        return;
    free(job->name);
    free(job->spec);
    free(job->reason);
    free(job->config_hash);
    free(job->device);
    free(job->nodelist);
    memset(job, 0, sizeof(*job));
}

void
ad_node_clear(ad_node_t *node)
{
    if (!node)
        return;
    free(node->hostname);
    free(node->address);
    free(node->hardware);
    memset(node, 0, sizeof(*node));
}

void
ad_profile_row_clear(ad_profile_row_t *profile)
{
    if (!profile)
        return;
    free(profile->hardware);
    free(profile->cpu_model);
    free(profile->topology);
    memset(profile, 0, sizeof(*profile));
}

void
ad_sweep_row_clear(ad_sweep_row_t *sweep)
{
    if (!sweep)
        return;
    free(sweep->name);
    free(sweep->file_hash);
    free(sweep->spec);
    memset(sweep, 0, sizeof(*sweep));
}

void
ad_job_rows_free(ad_job_row_t **rows_p, size_t n)
{
    if (!rows_p || !*rows_p)
        return;
    for (size_t i = 0; i < n; i++)
        ad_job_row_clear(&(*rows_p)[i]);
    free(*rows_p);
    *rows_p = NULL;
}

void
ad_nodes_free(ad_node_t **rows_p, size_t n)
{
    if (!rows_p || !*rows_p)
        return;
    for (size_t i = 0; i < n; i++)
        ad_node_clear(&(*rows_p)[i]);
    free(*rows_p);
    *rows_p = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* SQLite at the boundary: errors, statements, binding, columns.                           */

static double
s_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Translate an SQLite failure of op into AD_EDB on the handle.  rc is the
 * code the failing call returned; the message is SQLite's unless the fault
 * switch made the call fail.
 */
static int
s_db_error(ad_store_t *self, const char *op, int rc)
{
    const char *msg = self->injected ? sqlite3_errstr(rc) : sqlite3_errmsg(self->db);
    const char *tag = self->injected ? " (fault injected)" : "";
    int primary = rc & 0xff;

    if (!self->injected && primary == SQLITE_IOERR && sqlite3_system_errno(self->db) == ENOSPC)
        primary = SQLITE_FULL;
    switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ad_err_set(&self->err, AD_EDB,
                          "%s: %s: the store is busy: another process held its lock for more "
                          "than %d ms (%s%s); try again",
                          self->path, op, self->busy_ms, msg, tag);
    case SQLITE_FULL:
        return ad_err_set(&self->err, AD_EDB, "%s: %s: the disk is full (%s%s)", self->path, op,
                          msg, tag);
    case SQLITE_READONLY:
        return ad_err_set(&self->err, AD_EDB, "%s: %s: the store is read-only (%s%s)", self->path,
                          op, msg, tag);
    case SQLITE_NOTADB:
        return ad_err_set(&self->err, AD_EDB, "%s: not an autodist store (file is not a database)",
                          self->path);
    case SQLITE_CORRUPT:
        return ad_err_set(&self->err, AD_EDB,
                          "%s: %s: the store is damaged (%s%s); restore it from a copy", self->path,
                          op, msg, tag);
    case SQLITE_CANTOPEN:
        if (!self->injected && sqlite3_system_errno(self->db))
            return ad_err_set(&self->err, AD_EDB, "%s: %s: cannot open the file: %s", self->path,
                              op, strerror(sqlite3_system_errno(self->db)));
        break;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return ad_err_set(&self->err, AD_EDB,
                              "%s: %s: it refers to a job, sweep, node or run that does not "
                              "exist (%s%s)",
                              self->path, op, msg, tag);
        break;
    default:
        break;
    }
    return ad_err_set(&self->err, AD_EDB, "%s: %s: %s%s", self->path, op, msg, tag);
}

/* Add to the message what a failed write left behind, so no one wonders about half a batch. */
static int
s_say_undone(ad_store_t *self, int rc, bool whole_tx_lost)
{
    const char *tail = "; nothing was written";
    size_t used = strlen(self->err.msg);

    if (rc != AD_EDB)
        return rc;
    if (whole_tx_lost)
        tail = "; the open transaction was rolled back: nothing of it was written";
    else if (self->user_tx)
        tail = "; this call wrote nothing, the open transaction goes on";
    snprintf(self->err.msg + used, sizeof(self->err.msg) - used, "%s", tail);
    return rc;
}

/* Fetch statement q, preparing it on first use.  Returns 0 or AD_EDB. */
static int
s_stmt(ad_store_t *self, int q, const char *op, sqlite3_stmt **stmt)
{
    int rc;

    self->injected = false;
    if (ad_fault_hit("store.prepare")) {
        self->injected = true;
        return s_db_error(self, op, SQLITE_ERROR);
    }
    if (!self->stmts[q]) {
        rc = sqlite3_prepare_v3(self->db, s_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &self->stmts[q],
                                NULL);
        if (rc != SQLITE_OK)
            return s_db_error(self, op, rc);
    }
    *stmt = self->stmts[q];
    return 0;
}

/* Prepare a one-off statement (a query built from a filter); the caller finalizes it. */
static int
s_prepare(ad_store_t *self, const char *sql, const char *op, sqlite3_stmt **stmt)
{
    int rc;

    *stmt = NULL;
    self->injected = false;
    if (ad_fault_hit("store.prepare")) {
        self->injected = true;
        return s_db_error(self, op, SQLITE_ERROR);
    }
    rc = sqlite3_prepare_v2(self->db, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK)
        return s_db_error(self, op, rc);
    return 0;
}

/* sqlite3_step behind the fault switch; returns SQLite's code (or the injected one). */
static int
s_step(ad_store_t *self, sqlite3_stmt *stmt)
{
    self->injected = true;
    if (ad_fault_hit("store.step"))
        return SQLITE_IOERR;
    if (ad_fault_hit("store.full"))
        return SQLITE_FULL;
    if (ad_fault_hit("store.busy"))
        return SQLITE_BUSY;
    self->injected = false;
    return sqlite3_step(stmt);
}

/* Run statement q, which returns no rows.  Returns 0 or AD_EDB. */
static int
s_exec(ad_store_t *self, int q, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = s_stmt(self, q, op, &stmt);
    if (rc)
        return rc;
    rc = s_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
    sqlite3_reset(stmt);
    return rc;
}

/* Undo without the fault switch: cleanup must not fail on purpose. */
static void
s_exec_quiet(ad_store_t *self, int q)
{
    if (!self->stmts[q] && sqlite3_prepare_v3(self->db, s_sql[q], -1, SQLITE_PREPARE_PERSISTENT,
                                              &self->stmts[q], NULL) != SQLITE_OK)
        return;
    sqlite3_step(self->stmts[q]);
    sqlite3_reset(self->stmts[q]);
}

/*
 * Open what a public call that writes needs: lock when it reads before it
 * writes and the read must still hold at the write; several when it writes
 * more than one statement, which must land together.
 */
static int
s_tx_begin(ad_store_t *self, const char *op, bool lock, bool several, s_tx_t *tx)
{
    int rc;

    *tx = S_TX_NONE;
    if (self->readonly)
        return ad_err_set(&self->err, AD_EDB, "%s: %s: the store is open read-only", self->path,
                          op);
    if (sqlite3_get_autocommit(self->db)) {
        if (!lock && !several)
            return 0;
        rc = s_exec(self, Q_BEGIN, op);
        if (!rc)
            *tx = S_TX_OWN;
        return s_say_undone(self, rc, false);
    }
    if (!several)
        return 0;
    rc = s_exec(self, Q_SAVEPOINT, op);
    if (!rc)
        *tx = S_TX_SAVEPOINT;
    return s_say_undone(self, rc, false);
}

/* Close what s_tx_begin() opened: commit when rc is 0, else undo.  Returns rc or AD_EDB. */
static int
s_tx_end(ad_store_t *self, s_tx_t tx, int rc, const char *op)
{
    if (tx == S_TX_NONE) {
        /* One statement undoes itself; SQLite may have dropped the caller's transaction. */
        return s_say_undone(self, rc, self->user_tx && sqlite3_get_autocommit(self->db));
    }
    if (!rc) {
        rc = s_exec(self, tx == S_TX_OWN ? Q_COMMIT : Q_RELEASE, op);
        if (!rc)
            return 0;
    }
    /* SQLite may already have rolled back on its own (disk full, I/O error). */
    if (sqlite3_get_autocommit(self->db))
        return s_say_undone(self, rc, tx == S_TX_SAVEPOINT);
    if (tx == S_TX_OWN) {
        s_exec_quiet(self, Q_ROLLBACK);
    } else {
        s_exec_quiet(self, Q_ROLLBACK_TO);
        s_exec_quiet(self, Q_RELEASE);
    }
    return s_say_undone(self, rc, false);
}

static void
s_bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, i);
}

/* NaN is NULL: "not measured". */
static void
s_bind_real(sqlite3_stmt *stmt, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(stmt, i);
    else
        sqlite3_bind_double(stmt, i, v);
}

/* A row id, a count or a size of 0 (or less) is NULL: "none", "unknown". */
static void
s_bind_pos(sqlite3_stmt *stmt, int i, int64_t v)
{
    if (v > 0)
        sqlite3_bind_int64(stmt, i, v);
    else
        sqlite3_bind_null(stmt, i);
}

/* Text of column i: owned copy when dup, else borrowed until the statement moves on. */
static char *
s_col_str(sqlite3_stmt *stmt, int i, bool dup)
{
    const char *s = (const char *)sqlite3_column_text(stmt, i);

    if (!s)
        return NULL;
    return dup ? ad_strdup(s) : (char *)s;
}

static double
s_col_real(sqlite3_stmt *stmt, int i)
{
    return sqlite3_column_type(stmt, i) == SQLITE_NULL ? NAN : sqlite3_column_double(stmt, i);
}

static int64_t
s_col_i64(sqlite3_stmt *stmt, int i)
{
    return sqlite3_column_int64(stmt, i);
}

static int
s_col_job_state(ad_store_t *self, sqlite3_stmt *stmt, int i, const char *what, int64_t id,
                ad_job_state_t *state)
{
    const char *name = (const char *)sqlite3_column_text(stmt, i);

    if (ad_job_state_from_name(name, state))
        return ad_err_set(&self->err, AD_EDB, "%s: %s %lld has an unknown state \"%s\"", self->path,
                          what, (long long)id, name ? name : "");
    return 0;
}

/* Read a runs row selected with S_RUN_COLS; strings borrowed unless dup. */
static int
s_read_run(ad_store_t *self, sqlite3_stmt *stmt, bool dup, ad_run_t *run)
{
    run->id = s_col_i64(stmt, 0);
    run->job = s_col_i64(stmt, 1);
    run->sweep = s_col_i64(stmt, 2);
    run->config_hash = s_col_str(stmt, 3, dup);
    run->model = s_col_str(stmt, 4, dup);
    run->dataset = s_col_str(stmt, 5, dup);
    run->hardware = s_col_str(stmt, 6, dup);
    run->device = s_col_str(stmt, 7, dup);
    run->nodes = sqlite3_column_int(stmt, 8);
    run->procs_per_node = sqlite3_column_int(stmt, 9);
    run->threads_per_proc = sqlite3_column_int(stmt, 10);
    run->batch_size = s_col_i64(stmt, 11);
    run->started = s_col_real(stmt, 13);
    run->ended = s_col_real(stmt, 14);
    run->samples_per_s = s_col_real(stmt, 15);
    run->epoch_time_s = s_col_real(stmt, 16);
    run->accuracy = s_col_real(stmt, 17);
    run->step_time_s = s_col_real(stmt, 18);
    run->comm_time_s = s_col_real(stmt, 19);
    run->params = s_col_i64(stmt, 20);
    run->baseline = s_col_i64(stmt, 21);
    run->speedup = s_col_real(stmt, 22);
    return s_col_job_state(self, stmt, 12, "run", run->id, &run->state);
}

static int
s_read_job(ad_store_t *self, sqlite3_stmt *stmt, ad_job_row_t *job)
{
    job->id = s_col_i64(stmt, 0);
    job->name = s_col_str(stmt, 1, true);
    job->spec = s_col_str(stmt, 2, true);
    job->reason = s_col_str(stmt, 4, true);
    job->submitted = s_col_real(stmt, 5);
    job->started = s_col_real(stmt, 6);
    job->ended = s_col_real(stmt, 7);
    job->exit_code = sqlite3_column_type(stmt, 8) == SQLITE_NULL ? AD_STORE_NO_EXIT
                                                                 : sqlite3_column_int(stmt, 8);
    job->sweep = s_col_i64(stmt, 9);
    job->config_hash = s_col_str(stmt, 10, true);
    job->nodes = sqlite3_column_int(stmt, 11);
    job->procs_per_node = sqlite3_column_int(stmt, 12);
    job->threads_per_proc = sqlite3_column_int(stmt, 13);
    job->device = s_col_str(stmt, 14, true);
    job->nodelist = s_col_str(stmt, 15, true);
    return s_col_job_state(self, stmt, 3, "job", job->id, &job->state);
}

static int
s_read_node(ad_store_t *self, sqlite3_stmt *stmt, ad_node_t *node)
{
    const char *state = (const char *)sqlite3_column_text(stmt, 3);

    node->id = s_col_i64(stmt, 0);
    node->hostname = s_col_str(stmt, 1, true);
    node->address = s_col_str(stmt, 2, true);
    node->hardware = s_col_str(stmt, 4, true);
    node->first_seen = s_col_real(stmt, 5);
    node->last_seen = s_col_real(stmt, 6);
    if (ad_node_state_from_name(state, &node->state))
        return ad_err_set(&self->err, AD_EDB, "%s: node %lld has an unknown state \"%s\"",
                          self->path, (long long)node->id, state ? state : "");
    return 0;
}

static void
s_read_profile(sqlite3_stmt *stmt, ad_profile_row_t *p)
{
    p->id = s_col_i64(stmt, 0);
    p->node = s_col_i64(stmt, 1);
    p->hardware = s_col_str(stmt, 2, true);
    p->measured = s_col_real(stmt, 3);
    p->cpu_model = s_col_str(stmt, 4, true);
    p->sockets = sqlite3_column_int(stmt, 5);
    p->cores = sqlite3_column_int(stmt, 6);
    p->pus = sqlite3_column_int(stmt, 7);
    p->gpus = sqlite3_column_int(stmt, 8);
    p->memory_bytes = s_col_i64(stmt, 9);
    p->gemm_gflops_1 = s_col_real(stmt, 10);
    p->gemm_gflops_all = s_col_real(stmt, 11);
    p->mem_bw_gbs = s_col_real(stmt, 12);
    p->topology = s_col_str(stmt, 13, true);
}

static void
s_read_sweep(sqlite3_stmt *stmt, ad_sweep_row_t *s)
{
    s->id = s_col_i64(stmt, 0);
    s->name = s_col_str(stmt, 1, true);
    s->file_hash = s_col_str(stmt, 2, true);
    s->spec = s_col_str(stmt, 3, true);
    s->created = s_col_real(stmt, 4);
}

/*
 * Step a bound single-row query: 0 with a row ready, -ENOENT with err
 * saying "<what> <id>: no such <what>" (id printed when >= 0, else key), or
 * AD_EDB.  The caller reads the row and resets.
 */
static int
s_step_one(ad_store_t *self, sqlite3_stmt *stmt, const char *op, const char *what, int64_t id,
           const char *key)
{
    int rc = s_step(self, stmt);

    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return s_db_error(self, op, rc);
    if (key)
        return ad_err_set(&self->err, -ENOENT, "%s \"%s\": no such %s", what, key, what);
    return ad_err_set(&self->err, -ENOENT, "%s %lld: no such %s", what, (long long)id, what);
}

/* ---------------------------------------------------------------------------------------- */
/* Open, migrate, close.                                                                   */

/* One integer from a query that returns one row (a PRAGMA, a count). */
static int
s_query_int(ad_store_t *self, const char *sql, const char *op, int *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = s_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    rc = s_step(self, stmt);
    if (rc != SQLITE_ROW) {
        rc = s_db_error(self, op, rc);
        goto out_finalize;
    }
    *out = sqlite3_column_int(stmt, 0);
    rc = 0;
out_finalize:
    sqlite3_finalize(stmt);
    return rc;
}

/* Apply migration v in a transaction of its own (another process may have done it already). */
static int
s_migrate_to(ad_store_t *self, int v)
{
    char op[64], sql[160];
    char *msg = NULL;
    int version, rc;

    snprintf(op, sizeof(op), "migrate to schema %d", v);
    rc = s_exec(self, Q_BEGIN, op);
    if (rc)
        return rc;
    rc = s_query_int(self, "PRAGMA user_version", op, &version);
    if (rc || version >= v)
        goto out_end;
    if (ad_fault_hit("store.migrate")) {
        self->injected = true;
        rc = s_db_error(self, op, SQLITE_IOERR);
        goto out_end;
    }
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d;", v,
             AD_STORE_APP_ID);
    self->injected = false;
    if (sqlite3_exec(self->db, s_migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        rc = ad_err_set(&self->err, AD_EDB, "%s: %s: %s; the store is left at schema %d",
                        self->path, op, msg ? msg : sqlite3_errmsg(self->db), v - 1);
        sqlite3_free(msg);
    }
out_end:
    return s_tx_end(self, S_TX_OWN, rc, op);
}

/* Check the file is ours, switch to WAL and bring the schema up to date. */
static int
s_setup(ad_store_t *self)
{
    char mode[16] = "";
    sqlite3_stmt *stmt = NULL;
    int tables, app_id, version, rc;

    /* The first read is where SQLite notices a file that is not a database. */
    rc = s_query_int(self, "SELECT count(*) FROM sqlite_schema", "read schema", &tables);
    if (!rc)
        rc = s_query_int(self, "PRAGMA application_id", "read application id", &app_id);
    if (!rc)
        rc = s_query_int(self, "PRAGMA user_version", "read schema version", &version);
    if (rc)
        return rc;
    if (app_id != 0 && app_id != AD_STORE_APP_ID)
        return ad_err_set(&self->err, AD_EDB,
                          "%s: not an autodist store (an SQLite database of another "
                          "application, application_id %d)",
                          self->path, app_id);
    if (version == 0 && tables > 0)
        return ad_err_set(&self->err, AD_EDB,
                          "%s: not an autodist store (an SQLite database with other tables)",
                          self->path);
    if (version > AD_STORE_SCHEMA_VERSION)
        return ad_err_set(&self->err, AD_EDB,
                          "%s has schema %d, this autodist knows up to %d: upgrade autodist",
                          self->path, version, AD_STORE_SCHEMA_VERSION);
    if (self->readonly && version == 0)
        return ad_err_set(&self->err, AD_EDB, "%s: not an autodist store (empty file)", self->path);
    if (self->readonly && version < AD_STORE_SCHEMA_VERSION)
        return ad_err_set(&self->err, AD_EDB,
                          "%s has schema %d, this autodist needs %d: open it once without "
                          "read-only to migrate it",
                          self->path, version, AD_STORE_SCHEMA_VERSION);

    if (!self->readonly) {
        rc = s_prepare(self, "PRAGMA journal_mode = WAL", "switch to WAL", &stmt);
        if (rc)
            return rc;
        rc = s_step(self, stmt);
        if (rc == SQLITE_ROW)
            snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(stmt, 0));
        rc = rc == SQLITE_ROW ? 0 : s_db_error(self, "switch to WAL", rc);
        sqlite3_finalize(stmt);
        if (rc)
            return rc;
        if (strcasecmp(mode, "wal"))
            return ad_err_set(&self->err, AD_EDB,
                              "%s: cannot use WAL mode (journal mode is \"%s\"); is the file on "
                              "a network filesystem?",
                              self->path, mode);
    }
    /*
     * NORMAL is durable against a crash of autodist in WAL mode; only a power
     * cut can lose the last commits, never corrupt the file.  The page cache
     * (32 MiB) keeps the indexes of a million runs warm during imports.
     */
    self->injected = false;
    if (sqlite3_exec(self->db,
                     "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
                     " PRAGMA cache_size = -32768;",
                     NULL, NULL, NULL) != SQLITE_OK)
        return s_db_error(self, "set up connection", sqlite3_errcode(self->db));

    for (int v = version + 1; v <= AD_STORE_SCHEMA_VERSION; v++) {
        rc = s_migrate_to(self, v);
        if (rc)
            return rc;
    }
    if (version > 0 && version < AD_STORE_SCHEMA_VERSION)
        ad_log(AD_LOG_INFO, "%s: migrated the store from schema %d to %d", self->path, version,
               AD_STORE_SCHEMA_VERSION);
    return 0;
}

int
ad_store_open(const char *path, unsigned flags, ad_store_t **out, ad_err_t *err)
{
    ad_home_t home = {0};
    ad_store_t *self;
    struct stat st;
    int oflags, rc;

    *out = NULL;
    ad_err_clear(err);
    if (sqlite3_libversion_number() < 3035000)
        return ad_err_set(err, AD_EDB, "SQLite %s is too old: the store needs 3.35 or later",
                          sqlite3_libversion());
    if (!path) {
        rc = ad_home_resolve(NULL, &home, err);
        if (!rc && (flags & AD_STORE_CREATE) && !(flags & AD_STORE_READONLY))
            rc = ad_home_ensure(&home, err);
        if (rc)
            goto out_home;
        path = home.db;
    }
    if (stat(path, &st) != 0) {
        rc = -errno;
        if (rc != -ENOENT || !(flags & AD_STORE_CREATE) || (flags & AD_STORE_READONLY)) {
            ad_err_set(err, rc, "%s: %s", path, rc == -ENOENT ? "no such store" : strerror(-rc));
            goto out_home;
        }
    } else if (S_ISDIR(st.st_mode)) {
        rc = ad_err_set(err, -EISDIR, "%s: is a folder, not a store", path);
        goto out_home;
    }

    self = ad_calloc(1, sizeof(*self));
    self->path = ad_strdup(path);
    self->readonly = flags & AD_STORE_READONLY;
    self->busy_ms = AD_STORE_BUSY_MS;
    /* One thread owns a handle, so SQLite's own mutexes would only cost time. */
    oflags = SQLITE_OPEN_NOMUTEX;
    if (self->readonly)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE | ((flags & AD_STORE_CREATE) ? SQLITE_OPEN_CREATE : 0);
    rc = sqlite3_open_v2(path, &self->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        rc = self->db ? s_db_error(self, "open", rc)
                      : ad_err_set(&self->err, AD_EDB, "%s: open: out of memory", path);
        goto out_close;
    }
    sqlite3_extended_result_codes(self->db, 1);
    sqlite3_busy_timeout(self->db, self->busy_ms);
    rc = s_setup(self);
    if (rc)
        goto out_close;
    ad_err_clear(&self->err);
    *out = self;
    ad_home_clear(&home);
    return 0;
out_close:
    if (err)
        *err = self->err;
    ad_store_close(&self);
out_home:
    ad_home_clear(&home);
    return rc;
}

void
ad_store_close(ad_store_t **self_p)
{
    ad_store_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    if (self->db && !sqlite3_get_autocommit(self->db)) {
        ad_log(AD_LOG_WARN, "%s: closed inside a transaction; its changes are rolled back",
               self->path);
        s_exec_quiet(self, Q_ROLLBACK);
    }
    for (int q = 0; q < Q_COUNT; q++)
        sqlite3_finalize(self->stmts[q]);
    sqlite3_close_v2(self->db);
    free(self->path);
    free(self);
    *self_p = NULL;
}

const ad_err_t *
ad_store_err(const ad_store_t *self)
{
    return &self->err;
}

const char *
ad_store_errmsg(const ad_store_t *self)
{
    return self->err.msg;
}

const char *
ad_store_path(const ad_store_t *self)
{
    return self->path;
}

void
ad_store_set_busy_timeout(ad_store_t *self, int ms)
{
    self->busy_ms = ms;
    sqlite3_busy_timeout(self->db, ms);
}

/* ---------------------------------------------------------------------------------------- */
/* Transactions.                                                                           */

int
ad_store_begin(ad_store_t *self)
{
    int rc;

    ad_err_clear(&self->err);
    assert(!self->user_tx && "ad_store_begin() inside a transaction");
    if (self->readonly)
        return ad_err_set(&self->err, AD_EDB, "%s: begin: the store is open read-only", self->path);
    rc = s_exec(self, Q_BEGIN, "begin");
    if (!rc)
        self->user_tx = true;
    return rc;
}

int
ad_store_commit(ad_store_t *self)
{
    int rc;

    ad_err_clear(&self->err);
    assert(self->user_tx && "ad_store_commit() without ad_store_begin()");
    self->user_tx = false;
    if (sqlite3_get_autocommit(self->db))
        return ad_err_set(&self->err, AD_EDB,
                          "%s: commit: the transaction was rolled back after an earlier error; "
                          "nothing of it was written",
                          self->path);
    rc = s_exec(self, Q_COMMIT, "commit");
    if (rc && !sqlite3_get_autocommit(self->db))
        s_exec_quiet(self, Q_ROLLBACK);
    return s_say_undone(self, rc, false);
}

int
ad_store_rollback(ad_store_t *self)
{
    int rc;

    ad_err_clear(&self->err);
    self->user_tx = false;
    if (sqlite3_get_autocommit(self->db))
        return 0;
    rc = sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : s_db_error(self, "rollback", rc);
}

/* ---------------------------------------------------------------------------------------- */
/* Nodes and profiles.                                                                     */

int
ad_store_put_node(ad_store_t *self, const ad_node_t *node, int64_t *id)
{
    const char *op = "put node";
    double now = s_now();
    sqlite3_stmt *stmt = NULL;
    s_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    assert(node->hostname);
    rc = s_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = s_stmt(self, Q_NODE_PUT, op, &stmt);
    if (rc)
        goto out_end;
    s_bind_text(stmt, 1, node->hostname);
    s_bind_text(stmt, 2, node->address);
    s_bind_text(stmt, 3, ad_node_state_name(node->state));
    sqlite3_bind_double(stmt, 4, isnan(node->first_seen) ? now : node->first_seen);
    sqlite3_bind_double(stmt, 5, isnan(node->last_seen) ? now : node->last_seen);
    rc = s_step(self, stmt);
    if (rc != SQLITE_ROW) {
        rc = s_db_error(self, op, rc);
        goto out_reset;
    }
    if (id)
        *id = s_col_i64(stmt, 0);
    rc = 0;
out_reset:
    sqlite3_reset(stmt);
out_end:
    return s_tx_end(self, tx, rc, op);
}

int
ad_store_set_node_state(ad_store_t *self, int64_t id, ad_node_state_t state, double last_seen)
{
    const char *op = "set node state";
    sqlite3_stmt *stmt = NULL;
    s_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    rc = s_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = s_stmt(self, Q_NODE_STATE, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    s_bind_text(stmt, 2, ad_node_state_name(state));
    sqlite3_bind_double(stmt, 3, isnan(last_seen) ? s_now() : last_seen);
    rc = s_step(self, stmt);
    if (rc != SQLITE_DONE)
        rc = s_db_error(self, op, rc);
    else if (sqlite3_changes(self->db) == 0)
        rc = ad_err_set(&self->err, -ENOENT, "node %lld: no such node", (long long)id);
    else
        rc = 0;
    sqlite3_reset(stmt);
    return rc;
}

/* A node query bound to one row: fill out. */
static int
s_get_node(ad_store_t *self, sqlite3_stmt *stmt, int64_t id, const char *hostname, ad_node_t *out)
{
    int rc;

    rc = s_step_one(self, stmt, "get node", "node", id, hostname);
    if (!rc)
        rc = s_read_node(self, stmt, out);
    sqlite3_reset(stmt);
    if (rc)
        ad_node_clear(out);
    return rc;
}

int
ad_store_get_node(ad_store_t *self, int64_t id, ad_node_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = s_stmt(self, Q_NODE_GET, "get node", &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    return s_get_node(self, stmt, id, NULL, out);
}

int
ad_store_find_node(ad_store_t *self, const char *hostname, ad_node_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = s_stmt(self, Q_NODE_FIND, "find node", &stmt);
    if (rc)
        return rc;
    s_bind_text(stmt, 1, hostname);
    return s_get_node(self, stmt, -1, hostname, out);
}

int
ad_store_list_nodes(ad_store_t *self, ad_node_t **rows, size_t *n)
{
    const char *op = "list nodes";
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    ad_err_clear(&self->err);
    *rows = NULL;
    *n = 0;
    rc = s_stmt(self, Q_NODE_LIST, op, &stmt);
    if (rc)
        return rc;
    while ((rc = s_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *rows = ad_realloc(*rows, cap * sizeof(**rows));
        }
        memset(&(*rows)[*n], 0, sizeof(**rows));
        (*n)++;
        if (s_read_node(self, stmt, &(*rows)[*n - 1])) {
            rc = AD_EDB;
            goto out_free;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = s_db_error(self, op, rc);
        goto out_free;
    }
    sqlite3_reset(stmt);
    return 0;
out_free:
    sqlite3_reset(stmt);
    ad_nodes_free(rows, *n);
    *n = 0;
    return rc;
}

int
ad_store_add_profile(ad_store_t *self, const ad_profile_row_t *p, int64_t *id)
{
    const char *op = "add profile";
    sqlite3_stmt *stmt = NULL;
    s_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!p->hardware || !*p->hardware)
        return ad_err_set(&self->err, AD_EINVAL, "%s: the hardware class is required", op);
    rc = s_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = s_stmt(self, Q_PROFILE_ADD, op, &stmt);
    if (rc)
        goto out_end;
    s_bind_pos(stmt, 1, p->node);
    s_bind_text(stmt, 2, p->hardware);
    sqlite3_bind_double(stmt, 3, isnan(p->measured) ? s_now() : p->measured);
    s_bind_text(stmt, 4, p->cpu_model);
    s_bind_pos(stmt, 5, p->sockets);
    s_bind_pos(stmt, 6, p->cores);
    s_bind_pos(stmt, 7, p->pus);
    sqlite3_bind_int(stmt, 8, p->gpus);
    s_bind_pos(stmt, 9, p->memory_bytes);
    s_bind_real(stmt, 10, p->gemm_gflops_1);
    s_bind_real(stmt, 11, p->gemm_gflops_all);
    s_bind_real(stmt, 12, p->mem_bw_gbs);
    s_bind_text(stmt, 13, p->topology);
    rc = s_step(self, stmt);
    if (rc != SQLITE_DONE) {
        rc = s_db_error(self, op, rc);
        goto out_reset;
    }
    if (id)
        *id = sqlite3_last_insert_rowid(self->db);
    rc = 0;
out_reset:
    sqlite3_reset(stmt);
out_end:
    return s_tx_end(self, tx, rc, op);
}

static int
s_get_profile(ad_store_t *self, int q, int64_t node, const char *hardware, ad_profile_row_t *out)
{
    const char *op = "get profile";
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = s_stmt(self, q, op, &stmt);
    if (rc)
        return rc;
    if (hardware)
        s_bind_text(stmt, 1, hardware);
    else
        sqlite3_bind_int64(stmt, 1, node);
    rc = s_step(self, stmt);
    if (rc == SQLITE_ROW) {
        s_read_profile(stmt, out);
        rc = 0;
    } else if (rc != SQLITE_DONE) {
        rc = s_db_error(self, op, rc);
    } else if (hardware) {
        rc = ad_err_set(&self->err, -ENOENT, "hardware class \"%s\": no profile", hardware);
    } else {
        rc = ad_err_set(&self->err, -ENOENT, "node %lld: no profile", (long long)node);
    }
    sqlite3_reset(stmt);
    return rc;
}

int
ad_store_get_profile(ad_store_t *self, int64_t node, ad_profile_row_t *out)
{
    return s_get_profile(self, Q_PROFILE_NODE, node, NULL, out);
}

int
ad_store_find_profile(ad_store_t *self, const char *hardware, ad_profile_row_t *out)
{
    return s_get_profile(self, Q_PROFILE_HW, 0, hardware, out);
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
    s_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!sweep->name || !sweep->file_hash)
        return ad_err_set(&self->err, AD_EINVAL, "%s: name and file hash are required", op);
    rc = s_tx_begin(self, op, true, false, &tx);
    if (rc)
        return rc;
    rc = s_stmt(self, Q_SWEEP_ADD, op, &stmt);
    if (rc)
        goto out_end;
    s_bind_text(stmt, 1, sweep->name);
    s_bind_text(stmt, 2, sweep->file_hash);
    s_bind_text(stmt, 3, sweep->spec);
    sqlite3_bind_double(stmt, 4, s_now());
    rc = s_step(self, stmt);
    if (rc == SQLITE_ROW) {
        sid = s_col_i64(stmt, 0);
        made = true;
        rc = s_step(self, stmt);
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        rc = s_db_error(self, op, rc);
        goto out_end;
    }
    rc = 0;
    if (!made) {
        rc = s_stmt(self, Q_SWEEP_FIND, op, &stmt);
        if (rc)
            goto out_end;
        s_bind_text(stmt, 1, sweep->name);
        s_bind_text(stmt, 2, sweep->file_hash);
        rc = s_step_one(self, stmt, op, "sweep", -1, sweep->name);
        if (!rc)
            sid = s_col_i64(stmt, 0);
        sqlite3_reset(stmt);
    }
out_end:
    rc = s_tx_end(self, tx, rc, op);
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
    rc = s_stmt(self, Q_SWEEP_GET, "get sweep", &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = s_step_one(self, stmt, "get sweep", "sweep", id, NULL);
    if (!rc)
        s_read_sweep(stmt, out);
    sqlite3_reset(stmt);
    return rc;
}

void
ad_sweep_rows_free(ad_sweep_row_t **rows_p, size_t n)
{
    if (!rows_p || !*rows_p)
        return;
    for (size_t i = 0; i < n; i++)
        ad_sweep_row_clear(&(*rows_p)[i]);
    free(*rows_p);
    *rows_p = NULL;
}

int
ad_store_find_sweeps(ad_store_t *self, const char *name, ad_sweep_row_t **rows, size_t *n)
{
    const char *op = "find sweeps";
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    ad_err_clear(&self->err);
    *rows = NULL;
    *n = 0;
    rc = s_prepare(self, "SELECT " S_SWEEP_COLS " FROM sweeps WHERE name = ?1 ORDER BY id", op,
                   &stmt);
    if (rc)
        return rc;
    s_bind_text(stmt, 1, name);
    while ((rc = s_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 4;
            *rows = ad_realloc(*rows, cap * sizeof(**rows));
        }
        s_read_sweep(stmt, &(*rows)[(*n)++]);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        ad_sweep_rows_free(rows, *n);
        *n = 0;
        return s_db_error(self, op, rc);
    }
    return 0;
}

int
ad_store_each_sweep_job(ad_store_t *self, int64_t sweep, ad_store_job_fn fn, void *arg)
{
    const char *op = "list the jobs of a sweep";
    sqlite3_stmt *stmt = NULL;
    ad_job_row_t row;
    int rc;

    ad_err_clear(&self->err);
    rc = s_prepare(self,
                   "SELECT id, state, config_hash, submitted, started, ended, exit_code"
                   " FROM jobs WHERE sweep = ?1 ORDER BY id",
                   op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, sweep);
    while ((rc = s_step(self, stmt)) == SQLITE_ROW) {
        ad_job_row_init(&row);
        row.id = s_col_i64(stmt, 0);
        row.sweep = sweep;
        row.config_hash = (char *)sqlite3_column_text(stmt, 2);
        row.submitted = s_col_real(stmt, 3);
        row.started = s_col_real(stmt, 4);
        row.ended = s_col_real(stmt, 5);
        if (sqlite3_column_type(stmt, 6) != SQLITE_NULL)
            row.exit_code = sqlite3_column_int(stmt, 6);
        if (s_col_job_state(self, stmt, 1, "job", row.id, &row.state)) {
            rc = AD_EDB;
            goto out_finalize;
        }
        rc = fn(&row, arg);
        if (rc)
            goto out_finalize;
    }
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
out_finalize:
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_add_job(ad_store_t *self, const ad_job_row_t *job, int64_t *id)
{
    const char *op = "add job";
    sqlite3_stmt *stmt = NULL;
    s_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!job->name || !*job->name)
        return ad_err_set(&self->err, AD_EINVAL, "%s: a job needs a name", op);
    rc = s_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = s_stmt(self, Q_JOB_ADD, op, &stmt);
    if (rc)
        goto out_end;
    s_bind_text(stmt, 1, job->name);
    s_bind_text(stmt, 2, job->spec);
    s_bind_text(stmt, 3, job->reason);
    sqlite3_bind_double(stmt, 4, s_now());
    s_bind_pos(stmt, 5, job->sweep);
    s_bind_text(stmt, 6, job->config_hash);
    s_bind_pos(stmt, 7, job->nodes);
    s_bind_pos(stmt, 8, job->procs_per_node);
    s_bind_pos(stmt, 9, job->threads_per_proc);
    s_bind_text(stmt, 10, job->device);
    s_bind_text(stmt, 11, job->nodelist);
    rc = s_step(self, stmt);
    if (rc != SQLITE_DONE) {
        rc = s_db_error(self, op, rc);
        goto out_reset;
    }
    if (id)
        *id = sqlite3_last_insert_rowid(self->db);
    rc = 0;
out_reset:
    sqlite3_reset(stmt);
out_end:
    return s_tx_end(self, tx, rc, op);
}

/* Read job id's current state (inside the caller's transaction). */
static int
s_job_state(ad_store_t *self, int64_t id, const char *op, ad_job_state_t *state)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = s_stmt(self, Q_JOB_STATE, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = s_step_one(self, stmt, op, "job", id, NULL);
    if (!rc)
        rc = s_col_job_state(self, stmt, 0, "job", id, state);
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
    s_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    assert((int)state >= 0 && (int)state < AD_JOB_STATE_COUNT);
    rc = s_tx_begin(self, op, true, false, &tx);
    if (rc)
        return rc;
    rc = s_job_state(self, id, op, &from);
    if (rc)
        goto out_end;
    if (!ad_job_state_can_move(from, state)) {
        rc = ad_err_set(&self->err, AD_EINVAL, "job %lld: cannot go from %s to %s", (long long)id,
                        ad_job_state_name(from), ad_job_state_name(state));
        goto out_end;
    }
    rc = s_stmt(self, Q_JOB_SET_STATE, op, &stmt);
    if (rc)
        goto out_end;
    started = state == AD_JOB_RUNNING ? 1 : state == AD_JOB_PENDING ? 2 : 0;
    sqlite3_bind_int64(stmt, 1, id);
    s_bind_text(stmt, 2, ad_job_state_name(state));
    s_bind_text(stmt, 3, reason);
    if (exit_code != AD_STORE_NO_EXIT)
        sqlite3_bind_int(stmt, 4, exit_code);
    sqlite3_bind_int(stmt, 5, started);
    sqlite3_bind_double(stmt, 6, s_now());
    sqlite3_bind_int(stmt, 7, ad_job_state_is_final(state));
    rc = s_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
out_end:
    return s_tx_end(self, tx, rc, op);
}

int
ad_store_set_job_layout(ad_store_t *self, int64_t id, int nodes, int procs_per_node,
                        int threads_per_proc, const char *device, const char *nodelist)
{
    const char *op = "set job layout";
    sqlite3_stmt *stmt = NULL;
    s_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (nodes < 1 || procs_per_node < 1 || threads_per_proc < 1 || !device)
        return ad_err_set(&self->err, AD_EINVAL,
                          "job %lld: a layout needs nodes, procs_per_node and threads_per_proc "
                          ">= 1 and a device (got %dx%dx%d)",
                          (long long)id, nodes, procs_per_node, threads_per_proc);
    rc = s_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = s_stmt(self, Q_JOB_LAYOUT, op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int(stmt, 2, nodes);
    sqlite3_bind_int(stmt, 3, procs_per_node);
    sqlite3_bind_int(stmt, 4, threads_per_proc);
    s_bind_text(stmt, 5, device);
    s_bind_text(stmt, 6, nodelist);
    rc = s_step(self, stmt);
    if (rc != SQLITE_DONE)
        rc = s_db_error(self, op, rc);
    else if (sqlite3_changes(self->db) == 0)
        rc = ad_err_set(&self->err, -ENOENT, "job %lld: no such job", (long long)id);
    else
        rc = 0;
    sqlite3_reset(stmt);
out_end:
    return s_tx_end(self, tx, rc, op);
}

int
ad_store_get_job(ad_store_t *self, int64_t id, ad_job_row_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = s_stmt(self, Q_JOB_GET, "get job", &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = s_step_one(self, stmt, "get job", "job", id, NULL);
    if (!rc)
        rc = s_read_job(self, stmt, out);
    sqlite3_reset(stmt);
    if (rc)
        ad_job_row_clear(out);
    return rc;
}

/* Append " AND state IN ('A', 'B')" for the states of mask (nothing for 0). */
static void
s_append_states(char *sql, size_t len, unsigned mask)
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
    char sql[512] = "SELECT " S_JOB_COLS " FROM jobs WHERE 1";
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    ad_err_clear(&self->err);
    *rows = NULL;
    *n = 0;
    s_append_states(sql, sizeof(sql), states);
    strncat(sql, " ORDER BY id", sizeof(sql) - strlen(sql) - 1);
    rc = s_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    while ((rc = s_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *rows = ad_realloc(*rows, cap * sizeof(**rows));
        }
        memset(&(*rows)[*n], 0, sizeof(**rows));
        (*n)++;
        if (s_read_job(self, stmt, &(*rows)[*n - 1])) {
            rc = AD_EDB;
            goto out_free;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = s_db_error(self, op, rc);
        goto out_free;
    }
    sqlite3_finalize(stmt);
    return 0;
out_free:
    sqlite3_finalize(stmt);
    ad_job_rows_free(rows, *n);
    *n = 0;
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Runs and speedups.                                                                      */

static bool
s_is_baseline_layout(const ad_run_t *run)
{
    return run->nodes == 1 && run->procs_per_node == 1 && run->threads_per_proc == 1;
}

static bool
s_has_throughput(const ad_run_t *run)
{
    return !isnan(run->samples_per_s) && run->samples_per_s > 0;
}

static const char *
s_run_hardware(const ad_run_t *run)
{
    return run->hardware ? run->hardware : "";
}

static const char *
s_run_device(const ad_run_t *run)
{
    return run->device ? run->device : "cpu";
}

/* The latest COMPLETED 1x1x1 run of run's group: *id 0 when there is none. */
static int
s_find_baseline(ad_store_t *self, const ad_run_t *run, const char *op, int64_t *id, double *sps)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    *id = 0;
    *sps = NAN;
    rc = s_stmt(self, Q_RUN_BASELINE, op, &stmt);
    if (rc)
        return rc;
    s_bind_text(stmt, 1, run->model);
    s_bind_text(stmt, 2, run->dataset);
    sqlite3_bind_int64(stmt, 3, run->batch_size);
    s_bind_text(stmt, 4, s_run_hardware(run));
    s_bind_text(stmt, 5, s_run_device(run));
    rc = s_step(self, stmt);
    if (rc == SQLITE_ROW) {
        *id = s_col_i64(stmt, 0);
        *sps = sqlite3_column_double(stmt, 1);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
    }
    sqlite3_reset(stmt);
    return rc;
}

static int
s_set_speedup(ad_store_t *self, int64_t id, int64_t baseline, double speedup, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = s_stmt(self, Q_RUN_SET_SPEEDUP, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, baseline);
    sqlite3_bind_double(stmt, 3, speedup);
    rc = s_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
    sqlite3_reset(stmt);
    return rc;
}

/*
 * Run id, of the 1x1x1 layout, just COMPLETED: it is its own baseline, and
 * the baseline of the completed runs of its group that were waiting for one.
 */
static int
s_baseline_arrived(ad_store_t *self, int64_t id, const ad_run_t *run, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = s_set_speedup(self, id, id, 1.0, op);
    if (rc)
        return rc;
    rc = s_stmt(self, Q_RUN_BACKFILL, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_double(stmt, 2, run->samples_per_s);
    s_bind_text(stmt, 3, run->model);
    s_bind_text(stmt, 4, run->dataset);
    sqlite3_bind_int64(stmt, 5, run->batch_size);
    s_bind_text(stmt, 6, s_run_hardware(run));
    s_bind_text(stmt, 7, s_run_device(run));
    rc = s_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
    sqlite3_reset(stmt);
    return rc;
}

int
ad_store_add_run(ad_store_t *self, const ad_run_t *run, int64_t *id)
{
    const char *op = "add run";
    bool completed = run->state == AD_JOB_COMPLETED && s_has_throughput(run);
    bool is_baseline = completed && s_is_baseline_layout(run);
    sqlite3_stmt *stmt = NULL;
    int64_t baseline = 0, rid = 0;
    double base_sps = NAN;
    double started = run->started;
    s_tx_t tx;
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
        started = s_now();
    /* The baseline lookup and the insert must see the same store: lock when completed. */
    rc = s_tx_begin(self, op, completed, is_baseline, &tx);
    if (rc)
        return rc;
    if (completed && !is_baseline) {
        rc = s_find_baseline(self, run, op, &baseline, &base_sps);
        if (rc)
            goto out_end;
    }
    rc = s_stmt(self, Q_RUN_ADD, op, &stmt);
    if (rc)
        goto out_end;
    s_bind_pos(stmt, 1, run->job);
    s_bind_pos(stmt, 2, run->sweep);
    s_bind_text(stmt, 3, run->config_hash);
    s_bind_text(stmt, 4, run->model);
    s_bind_text(stmt, 5, run->dataset);
    s_bind_text(stmt, 6, s_run_hardware(run));
    s_bind_text(stmt, 7, s_run_device(run));
    sqlite3_bind_int(stmt, 8, run->nodes);
    sqlite3_bind_int(stmt, 9, run->procs_per_node);
    sqlite3_bind_int(stmt, 10, run->threads_per_proc);
    sqlite3_bind_int64(stmt, 11, run->batch_size);
    s_bind_text(stmt, 12, ad_job_state_name(run->state));
    s_bind_real(stmt, 13, started);
    s_bind_real(stmt, 14, run->ended);
    s_bind_real(stmt, 15, run->samples_per_s);
    s_bind_real(stmt, 16, run->epoch_time_s);
    s_bind_real(stmt, 17, run->accuracy);
    s_bind_real(stmt, 18, run->step_time_s);
    s_bind_real(stmt, 19, run->comm_time_s);
    s_bind_pos(stmt, 20, run->params);
    s_bind_pos(stmt, 21, baseline);
    s_bind_real(stmt, 22, baseline ? run->samples_per_s / base_sps : NAN);
    rc = s_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
    sqlite3_reset(stmt);
    if (rc)
        goto out_end;
    rid = sqlite3_last_insert_rowid(self->db);
    if (is_baseline)
        rc = s_baseline_arrived(self, rid, run, op);
out_end:
    rc = s_tx_end(self, tx, rc, op);
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
    rc = s_stmt(self, q, op, &stmt);
    if (rc)
        return rc;
    if (hash) {
        s_bind_pos(stmt, 1, id);
        s_bind_text(stmt, 2, hash);
        rc = s_step_one(self, stmt, op, "configuration", -1, hash);
    } else {
        sqlite3_bind_int64(stmt, 1, id);
        rc = s_step_one(self, stmt, op, "run", id, NULL);
    }
    if (!rc)
        rc = s_read_run(self, stmt, true, out);
    sqlite3_reset(stmt);
    if (rc)
        ad_run_clear(out);
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

int
ad_store_finish_run(ad_store_t *self, int64_t id, const ad_run_result_t *res)
{
    const char *op = "finish run";
    sqlite3_stmt *stmt = NULL;
    ad_run_t run = {0};
    int64_t baseline;
    double base_sps;
    s_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!ad_job_state_is_final(res->state))
        return ad_err_set(&self->err, AD_EINVAL, "run %lld: cannot finish as %s", (long long)id,
                          ad_job_state_name(res->state));
    rc = s_tx_begin(self, op, true, true, &tx);
    if (rc)
        return rc;
    rc = s_get_run(self, Q_RUN_GET, id, NULL, op, &run);
    if (rc)
        goto out_end;
    if (ad_job_state_is_final(run.state)) {
        rc = ad_err_set(&self->err, AD_EINVAL, "run %lld: already finished (%s)", (long long)id,
                        ad_job_state_name(run.state));
        goto out_end;
    }
    rc = s_stmt(self, Q_RUN_FINISH, op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, id);
    s_bind_text(stmt, 2, ad_job_state_name(res->state));
    sqlite3_bind_double(stmt, 3, isnan(res->ended) ? s_now() : res->ended);
    s_bind_real(stmt, 4, res->samples_per_s);
    s_bind_real(stmt, 5, res->epoch_time_s);
    s_bind_real(stmt, 6, res->accuracy);
    s_bind_real(stmt, 7, res->step_time_s);
    s_bind_real(stmt, 8, res->comm_time_s);
    s_bind_pos(stmt, 9, res->params);
    rc = s_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc || res->state != AD_JOB_COMPLETED)
        goto out_end;
    if (!isnan(res->samples_per_s))
        run.samples_per_s = res->samples_per_s;
    if (!s_has_throughput(&run))
        goto out_end;
    if (s_is_baseline_layout(&run)) {
        rc = s_baseline_arrived(self, id, &run, op);
        goto out_end;
    }
    rc = s_find_baseline(self, &run, op, &baseline, &base_sps);
    if (!rc && baseline)
        rc = s_set_speedup(self, id, baseline, run.samples_per_s / base_sps, op);
out_end:
    ad_run_clear(&run);
    return s_tx_end(self, tx, rc, op);
}

/* A filter's equality conditions, in the order they are written and bound. */
typedef struct {
    const char *col;  /* column name */
    const char *text; /* text value, or NULL for num */
    int64_t num;      /* integer value */
} s_cond_t;

#define S_CONDS_MAX 10

static int
s_conds(const ad_run_filter_t *f, s_cond_t *c)
{
    /* Index order, so the equalities read as a prefix of runs_layout. */
    const s_cond_t all[S_CONDS_MAX] = {
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

    for (int i = 0; i < S_CONDS_MAX; i++)
        if (all[i].text || all[i].num > 0)
            c[n++] = all[i];
    return n;
}

/* Build "... AND col = ?" for the conditions; bind them in the same order after prepare. */
static void
s_append_conds(char *sql, size_t len, const s_cond_t *c, int n)
{
    for (int i = 0; i < n; i++) {
        size_t used = strlen(sql);

        snprintf(sql + used, len - used, " AND %s = ?%d", c[i].col, i + 1);
    }
}

static void
s_bind_conds(sqlite3_stmt *stmt, const s_cond_t *c, int n)
{
    for (int i = 0; i < n; i++) {
        if (c[i].text)
            s_bind_text(stmt, i + 1, c[i].text);
        else
            sqlite3_bind_int64(stmt, i + 1, c[i].num);
    }
}

int
ad_store_each_run(ad_store_t *self, const ad_run_filter_t *filter, ad_store_run_fn fn, void *arg)
{
    const char *op = "list runs";
    char sql[1024] = "SELECT " S_RUN_COLS " FROM runs WHERE 1";
    s_cond_t conds[S_CONDS_MAX];
    sqlite3_stmt *stmt = NULL;
    ad_run_t run;
    int n = s_conds(filter, conds);
    size_t used;
    int rc;

    ad_err_clear(&self->err);
    s_append_conds(sql, sizeof(sql), conds, n);
    if (filter)
        s_append_states(sql, sizeof(sql), filter->states);
    used = strlen(sql);
    snprintf(sql + used, sizeof(sql) - used, " ORDER BY id%s",
             filter && filter->newest_first ? " DESC" : "");
    if (filter && filter->limit > 0) {
        used = strlen(sql);
        snprintf(sql + used, sizeof(sql) - used, " LIMIT %lld", (long long)filter->limit);
    }
    rc = s_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    s_bind_conds(stmt, conds, n);
    while ((rc = s_step(self, stmt)) == SQLITE_ROW) {
        memset(&run, 0, sizeof(run));
        if (s_read_run(self, stmt, false, &run)) {
            rc = AD_EDB;
            goto out_finalize;
        }
        rc = fn(&run, arg);
        if (rc)
            goto out_finalize;
    }
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
out_finalize:
    sqlite3_finalize(stmt);
    return rc;
}

/* Speedup / cores used: nodes x ppn x tpp on cpu, nodes x ppn (one GPU per rank) on gpu. */
static double
s_efficiency(const ad_speedup_row_t *row)
{
    int cores = row->nodes * row->procs_per_node;

    if (!row->device || strcmp(row->device, "gpu"))
        cores *= row->threads_per_proc;
    return cores > 0 ? row->speedup / cores : NAN;
}

int
ad_store_each_speedup(ad_store_t *self, const ad_run_filter_t *filter, ad_store_speedup_fn fn,
                      void *arg)
{
    const char *op = "list speedups";
    bool by_runs = filter && (filter->job > 0 || filter->sweep > 0);
    char sql[1024];
    s_cond_t conds[S_CONDS_MAX];
    sqlite3_stmt *stmt = NULL;
    ad_speedup_row_t row;
    int n = s_conds(filter, conds);
    size_t used;
    int rc;

    ad_err_clear(&self->err);
    /*
     * run_groups has the sums of every layout, one row each; only a job or a
     * sweep (not in its key) needs the runs themselves.
     */
    if (by_runs)
        snprintf(sql, sizeof(sql),
                 "SELECT " S_GROUP_KEY ", count(*), avg(samples_per_s),"
                 " avg(samples_per_s * samples_per_s), avg(speedup) FROM runs"
                 " WHERE state = 'COMPLETED' AND samples_per_s > 0");
    else
        snprintf(sql, sizeof(sql),
                 "SELECT " S_GROUP_KEY ", runs, sum_sps / runs, sum_sps2 / runs,"
                 " CASE WHEN speedups > 0 THEN sum_speedup / speedups END FROM run_groups"
                 " WHERE runs > 0");
    s_append_conds(sql, sizeof(sql), conds, n);
    used = strlen(sql);
    snprintf(sql + used, sizeof(sql) - used, "%s ORDER BY " S_GROUP_KEY,
             by_runs ? " GROUP BY " S_GROUP_KEY : "");
    rc = s_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    s_bind_conds(stmt, conds, n);
    while ((rc = s_step(self, stmt)) == SQLITE_ROW) {
        double mean, var;

        memset(&row, 0, sizeof(row));
        row.model = (const char *)sqlite3_column_text(stmt, 0);
        row.dataset = (const char *)sqlite3_column_text(stmt, 1);
        row.batch_size = s_col_i64(stmt, 2);
        row.hardware = (const char *)sqlite3_column_text(stmt, 3);
        row.nodes = sqlite3_column_int(stmt, 4);
        row.procs_per_node = sqlite3_column_int(stmt, 5);
        row.threads_per_proc = sqlite3_column_int(stmt, 6);
        row.device = (const char *)sqlite3_column_text(stmt, 7);
        row.runs = s_col_i64(stmt, 8);
        mean = sqlite3_column_double(stmt, 9);
        row.samples_per_s = mean;
        /* Sample standard deviation from the mean of squares; rounding can dip below 0. */
        var = sqlite3_column_double(stmt, 10) - mean * mean;
        row.samples_sd =
            row.runs > 1 && var > 0 ? sqrt(var * (double)row.runs / (double)(row.runs - 1)) : 0.0;
        row.speedup = s_col_real(stmt, 11);
        row.efficiency = s_efficiency(&row);
        rc = fn(&row, arg);
        if (rc)
            goto out_finalize;
    }
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
out_finalize:
    sqlite3_finalize(stmt);
    return rc;
}

/* One layout group being summed by ad_store_each_speedup_of(). */
typedef struct {
    ad_speedup_row_t row; /* key (strings owned) and count */
    double mean, m2;      /* Welford's running mean and sum of squared deviations */
    int64_t speedups;     /* runs with a speedup */
    double sum_speedup;   /* their sum */
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

/* Hand a finished group to fn; 0 or fn's value. */
static int
s_group_emit(s_group_t *g, ad_store_speedup_fn fn, void *arg)
{
    if (g->row.runs == 0)
        return 0;
    g->row.samples_per_s = g->mean;
    g->row.samples_sd = g->row.runs > 1 ? sqrt(g->m2 / (double)(g->row.runs - 1)) : 0.0;
    g->row.speedup = g->speedups > 0 ? g->sum_speedup / (double)g->speedups : NAN;
    g->row.efficiency = s_efficiency(&g->row);
    return fn(&g->row, arg);
}

int
ad_store_each_speedup_of(ad_store_t *self, const ad_run_filter_t *filter, ad_store_keep_fn keep,
                         void *keep_arg, ad_store_speedup_fn fn, void *arg)
{
    const char *op = "list speedups";
    char sql[1024] = "SELECT " S_RUN_COLS " FROM runs WHERE state = 'COMPLETED'"
                     " AND samples_per_s > 0";
    s_cond_t conds[S_CONDS_MAX];
    sqlite3_stmt *stmt = NULL;
    s_group_t g = {0};
    ad_run_t run;
    int n = s_conds(filter, conds);
    size_t used;
    int rc;

    ad_err_clear(&self->err);
    s_append_conds(sql, sizeof(sql), conds, n);
    /* runs_layout's order: the groups come one after the other. */
    used = strlen(sql);
    snprintf(sql + used, sizeof(sql) - used, " ORDER BY " S_GROUP_KEY);
    rc = s_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    s_bind_conds(stmt, conds, n);
    while ((rc = s_step(self, stmt)) == SQLITE_ROW) {
        double delta;

        memset(&run, 0, sizeof(run));
        if (s_read_run(self, stmt, false, &run)) {
            rc = AD_EDB;
            goto out_finalize;
        }
        if (keep && !keep(&run, keep_arg))
            continue;
        if (!s_group_has(&g, &run)) {
            rc = s_group_emit(&g, fn, arg);
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
    }
    rc = rc == SQLITE_DONE ? s_group_emit(&g, fn, arg) : s_db_error(self, op, rc);
out_finalize:
    s_group_clear(&g);
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
    s_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    rc = s_tx_begin(self, op, true, n > 1, &tx);
    if (rc)
        return rc;
    /* Name a missing run plainly instead of as a foreign key failure. */
    rc = s_stmt(self, Q_RUN_EXISTS, op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, run);
    rc = s_step_one(self, stmt, op, "run", run, NULL);
    sqlite3_reset(stmt);
    if (rc)
        goto out_end;
    rc = s_stmt(self, Q_METRIC_ADD, op, &stmt);
    if (rc)
        goto out_end;
    for (size_t i = 0; i < n && !rc; i++) {
        assert(metrics[i].key);
        sqlite3_bind_int64(stmt, 1, run);
        sqlite3_bind_int64(stmt, 2, metrics[i].step);
        s_bind_text(stmt, 3, metrics[i].key);
        s_bind_real(stmt, 4, metrics[i].value);
        rc = s_step(self, stmt);
        rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
        sqlite3_reset(stmt);
    }
out_end:
    return s_tx_end(self, tx, rc, op);
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
    rc = s_stmt(self, key ? Q_METRIC_KEY : Q_METRIC_ALL, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run);
    if (key)
        s_bind_text(stmt, 2, key);
    while ((rc = s_step(self, stmt)) == SQLITE_ROW) {
        m.step = s_col_i64(stmt, 0);
        m.key = (const char *)sqlite3_column_text(stmt, 1);
        m.value = s_col_real(stmt, 2);
        rc = fn(run, &m, arg);
        if (rc)
            goto out_reset;
    }
    rc = rc == SQLITE_DONE ? 0 : s_db_error(self, op, rc);
out_reset:
    sqlite3_reset(stmt);
    return rc;
}
