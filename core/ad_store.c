/* ad_store.c - the store: open, close, schema and migrations, transactions, SQLite at the boundary
 */
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
/* From schema 6 on, only a training run does (runs.kind). */
#define S_TRAINS(row) "(" #row ".kind = 'train' AND " S_COUNTS(row) ")"
#define S_GROUP_ADD(row) S_GROUP_ADD_IF(row, S_COUNTS(row))
#define S_GROUP_ADD_IF(row, counts) \
    "INSERT INTO run_groups SELECT " S_GROUP_OF(row) ", 1, " #row ".samples_per_s, " \
    #row ".samples_per_s * " #row ".samples_per_s, " #row ".speedup IS NOT NULL," \
    " coalesce(" #row ".speedup, 0) WHERE " counts \
    " ON CONFLICT (" ST_GROUP_KEY ") DO UPDATE SET runs = runs + 1," \
    " sum_sps = sum_sps + excluded.sum_sps, sum_sps2 = sum_sps2 + excluded.sum_sps2," \
    " speedups = speedups + excluded.speedups," \
    " sum_speedup = sum_speedup + excluded.sum_speedup;"
#define S_GROUP_SUB(row) S_GROUP_SUB_IF(row, S_COUNTS(row))
#define S_GROUP_SUB_IF(row, counts) \
    "UPDATE run_groups SET runs = runs - 1, sum_sps = sum_sps - " #row ".samples_per_s," \
    " sum_sps2 = sum_sps2 - " #row ".samples_per_s * " #row ".samples_per_s," \
    " speedups = speedups - (" #row ".speedup IS NOT NULL)," \
    " sum_speedup = sum_speedup - coalesce(" #row ".speedup, 0)" \
    " WHERE " S_GROUP_IS(row) " AND " counts ";" \
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
    "CREATE INDEX runs_layout ON runs (" ST_GROUP_KEY ", state, ended, samples_per_s);"
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
    " PRIMARY KEY (" ST_GROUP_KEY ")) WITHOUT ROWID;"
    "INSERT INTO run_groups SELECT " ST_GROUP_KEY ", count(*), sum(samples_per_s),"
    " sum(samples_per_s * samples_per_s), count(speedup), total(speedup) FROM runs"
    " WHERE state = 'COMPLETED' AND samples_per_s > 0 GROUP BY " ST_GROUP_KEY ";"
    "CREATE TRIGGER runs_group_add AFTER INSERT ON runs WHEN " S_COUNTS(new) " BEGIN "
        S_GROUP_ADD(new)
    " END;"
    "CREATE TRIGGER runs_group_move AFTER UPDATE OF " ST_GROUP_KEY ", state, samples_per_s,"
    " speedup ON runs WHEN " S_COUNTS(old) " OR " S_COUNTS(new) " BEGIN "
        S_GROUP_SUB(old)
        S_GROUP_ADD(new)
    " END;"
    "CREATE TRIGGER runs_group_drop AFTER DELETE ON runs WHEN " S_COUNTS(old) " BEGIN "
        S_GROUP_SUB(old)
    " END;";

/*
 * Schema 6's run_groups: the same triggers, counting training runs only (a
 * run of kind infer joins no speedup group).
 */
#define S_SCHEMA_V6_GROUPS \
    "DROP TRIGGER IF EXISTS runs_group_add;" \
    "DROP TRIGGER IF EXISTS runs_group_move;" \
    "DROP TRIGGER IF EXISTS runs_group_drop;" \
    "CREATE TRIGGER runs_group_add AFTER INSERT ON runs WHEN " S_TRAINS(new) " BEGIN " \
        S_GROUP_ADD_IF(new, S_TRAINS(new)) \
    " END;" \
    "CREATE TRIGGER runs_group_move AFTER UPDATE OF " ST_GROUP_KEY ", state, samples_per_s," \
    " speedup, kind ON runs WHEN " S_TRAINS(old) " OR " S_TRAINS(new) " BEGIN " \
        S_GROUP_SUB_IF(old, S_TRAINS(old)) \
        S_GROUP_ADD_IF(new, S_TRAINS(new)) \
    " END;" \
    "CREATE TRIGGER runs_group_drop AFTER DELETE ON runs WHEN " S_TRAINS(old) " BEGIN " \
        S_GROUP_SUB_IF(old, S_TRAINS(old)) \
    " END;"

/* clang-format on */

/*
 * Version 3: what it takes to find a running job again after the coordinator
 * stopped (docs/reliability.md): its current run row, the pid and identity
 * (boot id and start time) of its autodist-launch, and how many times it was
 * requeued; its owner, the name of the CURVE key that submitted it (NULL:
 * submitted before keys, by a sweep, or --insecure), indexed to count an
 * owner's PENDING jobs for the per-user cap; a sweep's dispatch options and
 * whether it was running, so a running sweep reopens by itself.
 */
static const char s_schema_v3[] = "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
                                  "ALTER TABLE jobs ADD COLUMN run INTEGER;"
                                  "ALTER TABLE jobs ADD COLUMN pid INTEGER;"
                                  "ALTER TABLE jobs ADD COLUMN pid_identity TEXT;"
                                  "ALTER TABLE jobs ADD COLUMN owner TEXT;"
                                  "CREATE INDEX jobs_owner ON jobs (owner, state);"
                                  "ALTER TABLE sweeps ADD COLUMN state TEXT;"
                                  "ALTER TABLE sweeps ADD COLUMN max_parallel INTEGER;"
                                  "ALTER TABLE sweeps ADD COLUMN retry_failed INTEGER;"
                                  "ALTER TABLE sweeps ADD COLUMN owner TEXT;";

/*
 * Version 4: a record of each run that is enough to re-create it (docs/store.md,
 * "Run records"): one JSON document per run, written when its job launches, to
 * which the reservation's final state is merged when it ends; the run a run
 * reproduces (`autodist reproduce`); the node pool a job asked for.  Runs made
 * before version 4 (and imported ones) have no record.
 */
static const char s_schema_v4[] =
    "CREATE TABLE run_records ("
    " run INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,"
    " record TEXT NOT NULL);"
    "ALTER TABLE runs ADD COLUMN reproduces INTEGER REFERENCES runs(id) ON DELETE SET NULL;"
    "CREATE INDEX runs_reproduces ON runs (reproduces) WHERE reproduces IS NOT NULL;"
    "ALTER TABLE jobs ADD COLUMN pool TEXT;";

/*
 * Version 5: runs as experiments with sound figures (docs/speedup.md, docs/store.md
 * "Runs as experiments"): a run's throughput spread over its steady-state steps
 * and their count, the interval of its speedup, its flags (noisy, high-spread,
 * efficiency>100%, few-samples: a comma list), whether it was a `layout: auto`
 * probe, the most other load its nodes carried while it ran, the CPU time and
 * peak memory of its ranks, its job's name and spec (the hyper-parameters), a
 * note and tags; the key that makes `autodist import` idempotent; the pinned
 * baselines, one per hardware class, model, dataset, batch and device.
 */
static const char s_schema_v5[] =
    "ALTER TABLE runs ADD COLUMN sps_sd REAL;"
    "ALTER TABLE runs ADD COLUMN sps_steps INTEGER;"
    "ALTER TABLE runs ADD COLUMN speedup_lo REAL;"
    "ALTER TABLE runs ADD COLUMN speedup_hi REAL;"
    "ALTER TABLE runs ADD COLUMN flags TEXT;"
    "ALTER TABLE runs ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN load_other REAL;"
    "ALTER TABLE runs ADD COLUMN cpu_time_s REAL;"
    "ALTER TABLE runs ADD COLUMN max_rss_bytes INTEGER;"
    "ALTER TABLE runs ADD COLUMN name TEXT;"
    "ALTER TABLE runs ADD COLUMN spec TEXT;"
    "ALTER TABLE runs ADD COLUMN note TEXT;"
    "ALTER TABLE runs ADD COLUMN import_key TEXT;"
    "CREATE UNIQUE INDEX runs_import_key ON runs (import_key) WHERE import_key IS NOT NULL;"
    "UPDATE runs SET name = (SELECT name FROM jobs WHERE jobs.id = runs.job),"
    " spec = (SELECT spec FROM jobs WHERE jobs.id = runs.job) WHERE job IS NOT NULL;"
    "CREATE TABLE run_tags ("
    " run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (run, key)) WITHOUT ROWID;"
    "CREATE INDEX run_tags_key ON run_tags (key, value);"
    "CREATE TABLE baselines ("
    " hardware TEXT NOT NULL, model TEXT NOT NULL, dataset TEXT NOT NULL,"
    " batch_size INTEGER NOT NULL, device TEXT NOT NULL,"
    " runs TEXT NOT NULL,"
    " sps REAL NOT NULL,"
    " sps_sd REAL,"
    " n INTEGER NOT NULL,"
    " pinned INTEGER NOT NULL DEFAULT 0,"
    " updated REAL NOT NULL,"
    " PRIMARY KEY (hardware, model, dataset, batch_size, device)) WITHOUT ROWID;"
    "CREATE INDEX runs_flagged ON runs (" ST_GROUP_KEY ") WHERE flags IS NOT NULL;"
    "CREATE INDEX runs_peak_rss ON runs (model, dataset, device, max_rss_bytes)"
    " WHERE max_rss_bytes > 0;";

/*
 * Version 6: inference (docs/inference.md).  A run's kind: "train" for the
 * training runs of jobs (every figure of speedup, baselines and the planner
 * reads these only) or "infer" for what `autodist bench-infer` measured.  The
 * models table lists the inference artifacts `autodist export` and
 * `autodist optimize` wrote: where, from which run and parent artifact, and
 * their size, test accuracy and latency as measured on this machine.
 */
static const char s_schema_v6[] =
    "ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'train';"
    "CREATE TABLE models ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " path TEXT NOT NULL UNIQUE,"
    " arch TEXT NOT NULL,"
    " variant TEXT NOT NULL,"
    " parent INTEGER REFERENCES models(id) ON DELETE SET NULL,"
    " run INTEGER REFERENCES runs(id) ON DELETE SET NULL,"
    " size_bytes INTEGER,"
    " params INTEGER,"
    " accuracy REAL,"
    " test_samples INTEGER,"
    " p50_ms REAL,"
    " p95_ms REAL,"
    " tput_b32 REAL,"
    " threads INTEGER,"
    " backend TEXT,"
    " hardware TEXT,"
    " created REAL NOT NULL,"
    " measured REAL);"
    "CREATE INDEX models_parent ON models (parent) WHERE parent IS NOT NULL;"
    /*
     * bench-infer (docs/bench-infer.md): the latency figures of a run of kind
     * infer, one load mode each; bench is when its bench-infer began, so the
     * layouts of one bench are read together.  run_groups (the speedup table)
     * counts training runs only.
     */
    "CREATE TABLE infer_runs ("
    " run INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,"
    " model_path TEXT NOT NULL,"
    " mode TEXT NOT NULL,"
    " concurrency INTEGER,"
    " rate REAL,"
    " p50_ms REAL,"
    " p95_ms REAL,"
    " p99_ms REAL,"
    " mean_ms REAL,"
    " samples INTEGER,"
    " backend TEXT,"
    " bench REAL NOT NULL);"
    "CREATE INDEX infer_runs_model ON infer_runs (model_path, bench);" S_SCHEMA_V6_GROUPS;

/* Migration to version v is s_migrations[v]; entry 0 is the empty file. */
static const char *const s_migrations[] = {NULL,        s_schema_v1, s_schema_v2, s_schema_v3,
                                           s_schema_v4, s_schema_v5, s_schema_v6};

_Static_assert(sizeof(s_migrations) / sizeof(s_migrations[0]) == AD_STORE_SCHEMA_VERSION + 1,
               "one migration per schema version");

/* ---------------------------------------------------------------------------------------- */
/* Statements (their numbers and the handle: ad_store_int.h).                               */

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
    [Q_NODE_GET] = "SELECT " ST_NODE_COLS " FROM nodes WHERE id = ?1",
    [Q_NODE_FIND] = "SELECT " ST_NODE_COLS " FROM nodes WHERE hostname = ?1",
    [Q_NODE_LIST] = "SELECT " ST_NODE_COLS " FROM nodes ORDER BY id",
    [Q_PROFILE_ADD] = "INSERT INTO profiles (node, hardware, measured, cpu_model, sockets, cores,"
                      " pus, gpus, memory_bytes, gemm_gflops_1, gemm_gflops_all, mem_bw_gbs,"
                      " topology) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [Q_PROFILE_NODE] =
        "SELECT " ST_PROFILE_COLS " FROM profiles WHERE node = ?1 ORDER BY id DESC LIMIT 1",
    [Q_PROFILE_HW] =
        "SELECT " ST_PROFILE_COLS " FROM profiles WHERE hardware = ?1 ORDER BY id DESC LIMIT 1",
    [Q_SWEEP_ADD] = "INSERT INTO sweeps (name, file_hash, spec, created) VALUES (?1, ?2, ?3, ?4)"
                    " ON CONFLICT (name, file_hash) DO NOTHING RETURNING id",
    [Q_SWEEP_FIND] = "SELECT id FROM sweeps WHERE name = ?1 AND file_hash = ?2",
    [Q_SWEEP_RUN] = "UPDATE sweeps SET state = ?2, max_parallel = ?3, retry_failed = ?4,"
                    " owner = COALESCE(?5, owner) WHERE id = ?1",
    [Q_SWEEP_GET] = "SELECT " ST_SWEEP_COLS " FROM sweeps WHERE id = ?1",
    [Q_JOB_ADD] = "INSERT INTO jobs (name, spec, state, reason, submitted, sweep, config_hash,"
                  " nodes, procs_per_node, threads_per_proc, device, nodelist)"
                  " VALUES (?1, ?2, 'PENDING', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_JOB_GET] = "SELECT " ST_JOB_COLS " FROM jobs WHERE id = ?1",
    [Q_JOB_STATE] = "SELECT state FROM jobs WHERE id = ?1",
    /*
     * ?5: 0 keeps started (a final state), 1 stamps it (RUNNING), 2 clears it
     * (PENDING again: a requeue, counted in attempts); ?7: non-zero stamps ended.
     * Only a RUNNING job keeps its process; a requeued one also leaves its run.
     */
    [Q_JOB_SET_STATE] = "UPDATE jobs SET state = ?2, reason = ?3,"
                        " exit_code = COALESCE(?4, exit_code),"
                        " attempts = attempts + (?5 = 2),"
                        " pid = CASE ?5 WHEN 1 THEN pid ELSE NULL END,"
                        " pid_identity = CASE ?5 WHEN 1 THEN pid_identity ELSE NULL END,"
                        " run = CASE ?5 WHEN 2 THEN NULL ELSE run END,"
                        " started = CASE ?5 WHEN 0 THEN started WHEN 1 THEN ?6 ELSE NULL END,"
                        " ended = CASE ?7 WHEN 0 THEN ended ELSE ?6 END WHERE id = ?1",
    [Q_JOB_PROC] = "UPDATE jobs SET pid = ?2, pid_identity = ?3, run = ?4 WHERE id = ?1",
    [Q_JOB_LAYOUT] = "UPDATE jobs SET nodes = ?2, procs_per_node = ?3, threads_per_proc = ?4,"
                     " device = ?5, nodelist = COALESCE(?6, nodelist) WHERE id = ?1",
    [Q_RUN_ADD] = "INSERT INTO runs (job, sweep, config_hash, model, dataset, hardware, device,"
                  " nodes, procs_per_node, threads_per_proc, batch_size, state, started, ended,"
                  " samples_per_s, epoch_time_s, accuracy, step_time_s, comm_time_s, params,"
                  " baseline, speedup, sps_sd, sps_steps, probe, load_other, cpu_time_s,"
                  " max_rss_bytes, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                  " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26,"
                  " ?27, ?28, coalesce(?29, 'train'))",
    [Q_RUN_GET] = "SELECT " ST_RUN_COLS " FROM runs WHERE id = ?1",
    [Q_RUN_FIND] = "SELECT " ST_RUN_COLS " FROM runs WHERE sweep IS ?1 AND config_hash = ?2"
                   " ORDER BY id DESC LIMIT 1",
    [Q_RUN_EXISTS] = "SELECT 1 FROM runs WHERE id = ?1",
    [Q_RUN_FINISH] = "UPDATE runs SET state = ?2, ended = ?3,"
                     " samples_per_s = COALESCE(?4, samples_per_s),"
                     " epoch_time_s = COALESCE(?5, epoch_time_s),"
                     " accuracy = COALESCE(?6, accuracy),"
                     " step_time_s = COALESCE(?7, step_time_s),"
                     " comm_time_s = COALESCE(?8, comm_time_s),"
                     " params = COALESCE(?9, params),"
                     " sps_sd = COALESCE(?10, sps_sd), sps_steps = COALESCE(?11, sps_steps),"
                     " load_other = COALESCE(?12, load_other),"
                     " cpu_time_s = COALESCE(?13, cpu_time_s),"
                     " max_rss_bytes = COALESCE(?14, max_rss_bytes) WHERE id = ?1",
    [Q_BASELINE_GET] = "SELECT runs, sps, sps_sd, n, pinned FROM baselines WHERE hardware = ?1"
                       " AND model = ?2 AND dataset = ?3 AND batch_size = ?4 AND device = ?5",
    [Q_RUN_SET_SPEEDUP] = "UPDATE runs SET baseline = ?2, speedup = ?3, speedup_lo = ?4,"
                          " speedup_hi = ?5, flags = ?6 WHERE id = ?1",
    [Q_BASELINE_PUT] = "INSERT OR REPLACE INTO baselines (hardware, model, dataset, batch_size,"
                       " device, runs, sps, sps_sd, n, pinned, updated)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_METRIC_ADD] = "INSERT OR REPLACE INTO metrics (run, step, key, value)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [Q_METRIC_ALL] = "SELECT step, key, value FROM metrics WHERE run = ?1 ORDER BY step, key",
    [Q_METRIC_KEY] = "SELECT step, key, value FROM metrics WHERE run = ?1 AND key = ?2"
                     " ORDER BY step",
};

/* ---------------------------------------------------------------------------------------- */
/* SQLite at the boundary: errors, statements, binding, columns.                           */

double
st_now(void)
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
int
st_db_error(ad_store_t *self, const char *op, int rc)
{
    const char *msg = self->injected ? sqlite3_errstr(rc) : sqlite3_errmsg(self->db);
    const char *tag = self->injected ? " (fault injected)" : "";
    int primary = rc & 0xff;

    if (!self->injected && primary == SQLITE_IOERR && sqlite3_system_errno(self->db) == ENOSPC)
        primary = SQLITE_FULL;
    self->busy = primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
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
int
st_stmt(ad_store_t *self, int q, const char *op, sqlite3_stmt **stmt)
{
    int rc;

    self->injected = false;
    if (ad_fault_hit("store.prepare")) {
        self->injected = true;
        return st_db_error(self, op, SQLITE_ERROR);
    }
    if (!self->stmts[q]) {
        rc = sqlite3_prepare_v3(self->db, s_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &self->stmts[q],
                                NULL);
        if (rc != SQLITE_OK)
            return st_db_error(self, op, rc);
    }
    *stmt = self->stmts[q];
    return 0;
}

/* Prepare a one-off statement (a query built from a filter); the caller finalizes it. */
int
st_prepare(ad_store_t *self, const char *sql, const char *op, sqlite3_stmt **stmt)
{
    int rc;

    *stmt = NULL;
    self->injected = false;
    if (ad_fault_hit("store.prepare")) {
        self->injected = true;
        return st_db_error(self, op, SQLITE_ERROR);
    }
    rc = sqlite3_prepare_v2(self->db, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK)
        return st_db_error(self, op, rc);
    return 0;
}

/* sqlite3_step behind the fault switch; returns SQLite's code (or the injected one). */
int
st_step(ad_store_t *self, sqlite3_stmt *stmt)
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

int
st_step_update(ad_store_t *self, sqlite3_stmt *stmt, const char *op, const char *what, int64_t id)
{
    int rc = st_step(self, stmt);

    if (rc != SQLITE_DONE)
        rc = st_db_error(self, op, rc);
    else if (sqlite3_changes(self->db) == 0)
        rc = ad_err_set(&self->err, -ENOENT, "%s %lld: no such %s", what, (long long)id, what);
    else
        rc = 0;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* Run statement q, which returns no rows.  Returns 0 or AD_EDB. */
static int
s_exec(ad_store_t *self, int q, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = st_stmt(self, q, op, &stmt);
    if (rc)
        return rc;
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
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
int
st_tx_begin(ad_store_t *self, const char *op, bool lock, bool several, st_tx_t *tx)
{
    int rc;

    *tx = ST_TX_NONE;
    self->busy = false; /* a write starts: only its own failure may say busy */
    if (self->readonly)
        return ad_err_set(&self->err, AD_EDB, "%s: %s: the store is open read-only", self->path,
                          op);
    if (sqlite3_get_autocommit(self->db)) {
        if (!lock && !several)
            return 0;
        rc = s_exec(self, Q_BEGIN, op);
        if (!rc)
            *tx = ST_TX_OWN;
        return s_say_undone(self, rc, false);
    }
    if (!several)
        return 0;
    rc = s_exec(self, Q_SAVEPOINT, op);
    if (!rc)
        *tx = ST_TX_SAVEPOINT;
    return s_say_undone(self, rc, false);
}

/* Close what st_tx_begin() opened: commit when rc is 0, else undo.  Returns rc or AD_EDB. */
int
st_tx_end(ad_store_t *self, st_tx_t tx, int rc, const char *op)
{
    if (tx == ST_TX_NONE) {
        /* One statement undoes itself; SQLite may have dropped the caller's transaction. */
        return s_say_undone(self, rc, self->user_tx && sqlite3_get_autocommit(self->db));
    }
    if (!rc) {
        rc = s_exec(self, tx == ST_TX_OWN ? Q_COMMIT : Q_RELEASE, op);
        if (!rc)
            return 0;
    }
    /* SQLite may already have rolled back on its own (disk full, I/O error). */
    if (sqlite3_get_autocommit(self->db))
        return s_say_undone(self, rc, tx == ST_TX_SAVEPOINT);
    if (tx == ST_TX_OWN) {
        s_exec_quiet(self, Q_ROLLBACK);
    } else {
        s_exec_quiet(self, Q_ROLLBACK_TO);
        s_exec_quiet(self, Q_RELEASE);
    }
    return s_say_undone(self, rc, false);
}

void
st_bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, i);
}

/* NaN is NULL: "not measured". */
void
st_bind_real(sqlite3_stmt *stmt, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(stmt, i);
    else
        sqlite3_bind_double(stmt, i, v);
}

/* A row id, a count or a size of 0 (or less) is NULL: "none", "unknown". */
void
st_bind_pos(sqlite3_stmt *stmt, int i, int64_t v)
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

double
st_col_real(sqlite3_stmt *stmt, int i)
{
    return sqlite3_column_type(stmt, i) == SQLITE_NULL ? NAN : sqlite3_column_double(stmt, i);
}

int64_t
st_col_i64(sqlite3_stmt *stmt, int i)
{
    return sqlite3_column_int64(stmt, i);
}

int
st_col_job_state(ad_store_t *self, sqlite3_stmt *stmt, int i, const char *what, int64_t id,
                 ad_job_state_t *state)
{
    const char *name = (const char *)sqlite3_column_text(stmt, i);

    if (ad_store_job_state_from_name(name, state))
        return ad_err_set(&self->err, AD_EDB, "%s: %s %lld has an unknown state \"%s\"", self->path,
                          what, (long long)id, name ? name : "");
    return 0;
}

/* Read a runs row selected with ST_RUN_COLS; strings borrowed unless dup. */
int
st_read_run(ad_store_t *self, sqlite3_stmt *stmt, bool dup, ad_run_t *run)
{
    run->id = st_col_i64(stmt, 0);
    run->job = st_col_i64(stmt, 1);
    run->sweep = st_col_i64(stmt, 2);
    run->config_hash = s_col_str(stmt, 3, dup);
    run->model = s_col_str(stmt, 4, dup);
    run->dataset = s_col_str(stmt, 5, dup);
    run->hardware = s_col_str(stmt, 6, dup);
    run->device = s_col_str(stmt, 7, dup);
    run->nodes = sqlite3_column_int(stmt, 8);
    run->procs_per_node = sqlite3_column_int(stmt, 9);
    run->threads_per_proc = sqlite3_column_int(stmt, 10);
    run->batch_size = st_col_i64(stmt, 11);
    run->started = st_col_real(stmt, 13);
    run->ended = st_col_real(stmt, 14);
    run->samples_per_s = st_col_real(stmt, 15);
    run->epoch_time_s = st_col_real(stmt, 16);
    run->accuracy = st_col_real(stmt, 17);
    run->step_time_s = st_col_real(stmt, 18);
    run->comm_time_s = st_col_real(stmt, 19);
    run->params = st_col_i64(stmt, 20);
    run->baseline = st_col_i64(stmt, 21);
    run->speedup = st_col_real(stmt, 22);
    /* Schema 5: spread, interval, flags, resources (docs/speedup.md). */
    run->sps_sd = st_col_real(stmt, 23);
    run->sps_steps = st_col_i64(stmt, 24);
    run->speedup_lo = st_col_real(stmt, 25);
    run->speedup_hi = st_col_real(stmt, 26);
    run->flags = s_col_str(stmt, 27, dup);
    run->probe = sqlite3_column_int(stmt, 28) != 0;
    run->load_other = st_col_real(stmt, 29);
    run->cpu_time_s = st_col_real(stmt, 30);
    run->max_rss_bytes = st_col_i64(stmt, 31);
    {
        /* ST_RUN_META_COLS close the selection, whatever comes before them. */
        int m = sqlite3_column_count(stmt) - ST_RUN_META_N;

        run->name = s_col_str(stmt, m, dup);
        run->spec = s_col_str(stmt, m + 1, dup);
        run->note = s_col_str(stmt, m + 2, dup);
        run->tags = s_col_str(stmt, m + 3, dup);
    }
    return st_col_job_state(self, stmt, 12, "run", run->id, &run->state);
}

int
st_read_job(ad_store_t *self, sqlite3_stmt *stmt, ad_job_row_t *job)
{
    job->id = st_col_i64(stmt, 0);
    job->name = s_col_str(stmt, 1, true);
    job->spec = s_col_str(stmt, 2, true);
    job->reason = s_col_str(stmt, 4, true);
    job->submitted = st_col_real(stmt, 5);
    job->started = st_col_real(stmt, 6);
    job->ended = st_col_real(stmt, 7);
    job->exit_code = sqlite3_column_type(stmt, 8) == SQLITE_NULL ? AD_STORE_NO_EXIT
                                                                 : sqlite3_column_int(stmt, 8);
    job->sweep = st_col_i64(stmt, 9);
    job->config_hash = s_col_str(stmt, 10, true);
    job->nodes = sqlite3_column_int(stmt, 11);
    job->procs_per_node = sqlite3_column_int(stmt, 12);
    job->threads_per_proc = sqlite3_column_int(stmt, 13);
    job->device = s_col_str(stmt, 14, true);
    job->nodelist = s_col_str(stmt, 15, true);
    job->attempts = sqlite3_column_int(stmt, 16);
    job->run = st_col_i64(stmt, 17);
    job->pid = st_col_i64(stmt, 18);
    job->pid_identity = s_col_str(stmt, 19, true);
    return st_col_job_state(self, stmt, 3, "job", job->id, &job->state);
}

int
st_read_node(ad_store_t *self, sqlite3_stmt *stmt, ad_node_t *node)
{
    const char *state = (const char *)sqlite3_column_text(stmt, 3);

    node->id = st_col_i64(stmt, 0);
    node->hostname = s_col_str(stmt, 1, true);
    node->address = s_col_str(stmt, 2, true);
    node->hardware = s_col_str(stmt, 4, true);
    node->first_seen = st_col_real(stmt, 5);
    node->last_seen = st_col_real(stmt, 6);
    if (ad_store_node_state_from_name(state, &node->state))
        return ad_err_set(&self->err, AD_EDB, "%s: node %lld has an unknown state \"%s\"",
                          self->path, (long long)node->id, state ? state : "");
    return 0;
}

void
st_read_profile(sqlite3_stmt *stmt, ad_profile_row_t *p)
{
    p->id = st_col_i64(stmt, 0);
    p->node = st_col_i64(stmt, 1);
    p->hardware = s_col_str(stmt, 2, true);
    p->measured = st_col_real(stmt, 3);
    p->cpu_model = s_col_str(stmt, 4, true);
    p->sockets = sqlite3_column_int(stmt, 5);
    p->cores = sqlite3_column_int(stmt, 6);
    p->pus = sqlite3_column_int(stmt, 7);
    p->gpus = sqlite3_column_int(stmt, 8);
    p->memory_bytes = st_col_i64(stmt, 9);
    p->gemm_gflops_1 = st_col_real(stmt, 10);
    p->gemm_gflops_all = st_col_real(stmt, 11);
    p->mem_bw_gbs = st_col_real(stmt, 12);
    p->topology = s_col_str(stmt, 13, true);
}

void
st_read_sweep(sqlite3_stmt *stmt, ad_sweep_row_t *s)
{
    s->id = st_col_i64(stmt, 0);
    s->name = s_col_str(stmt, 1, true);
    s->file_hash = s_col_str(stmt, 2, true);
    s->spec = s_col_str(stmt, 3, true);
    s->created = st_col_real(stmt, 4);
    s->state = s_col_str(stmt, 5, true);
    s->max_parallel = sqlite3_column_int(stmt, 6);
    s->retry_failed = sqlite3_column_int(stmt, 7) != 0;
    s->owner = s_col_str(stmt, 8, true);
}

/*
 * Step a bound single-row query: 0 with a row ready, -ENOENT with err
 * saying "<what> <id>: no such <what>" (id printed when >= 0, else key), or
 * AD_EDB.  The caller reads the row and resets.
 */
int
st_step_one(ad_store_t *self, sqlite3_stmt *stmt, const char *op, const char *what, int64_t id,
            const char *key)
{
    int rc = st_step(self, stmt);

    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return st_db_error(self, op, rc);
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

    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    rc = st_step(self, stmt);
    if (rc != SQLITE_ROW) {
        rc = st_db_error(self, op, rc);
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
        rc = st_db_error(self, op, SQLITE_IOERR);
        goto out_end;
    }
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d;", v,
             AD_STORE_APP_ID);
    self->injected = false;
    if (sqlite3_exec(self->db, s_migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(self->db, sql, NULL, NULL, &msg) != SQLITE_OK ||
        /* The baselines of version 5, built once runs.kind (version 6) tells training runs. */
        (v == 6 && st_baselines_rebuild(self, op))) {
        rc = ad_err_set(&self->err, AD_EDB, "%s: %s: %s; the store is left at schema %d",
                        self->path, op, msg ? msg : sqlite3_errmsg(self->db), v - 1);
        sqlite3_free(msg);
    }
out_end:
    return st_tx_end(self, ST_TX_OWN, rc, op);
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
        rc = st_prepare(self, "PRAGMA journal_mode = WAL", "switch to WAL", &stmt);
        if (rc)
            return rc;
        rc = st_step(self, stmt);
        if (rc == SQLITE_ROW)
            snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(stmt, 0));
        rc = rc == SQLITE_ROW ? 0 : st_db_error(self, "switch to WAL", rc);
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
        return st_db_error(self, "set up connection", sqlite3_errcode(self->db));

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
        rc = self->db ? st_db_error(self, "open", rc)
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

bool
ad_store_busy(const ad_store_t *self)
{
    return self->busy;
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
    /* Baselines that changed during the batch, and their groups' speedups, once each. */
    rc = st_baselines_flush(self, "commit");
    if (!rc)
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
    return rc == SQLITE_OK ? 0 : st_db_error(self, "rollback", rc);
}
